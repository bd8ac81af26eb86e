import type { ServiceImpl } from "@connectrpc/connect";
import type { CreateOrderRequest, OrderService } from "#gen/shop/order/v2/order_service_pb.js";
import { cardTokenOf, customerIdOf, orderLinesOf, type CreateOrderCommand } from "../../domain/order-commands.js";
import type { OrderUseCases } from "../../order-use-cases.js";
import { callOf, sharedHandlers } from "../shared-handlers.js";
import { toV2Order, V2_STATUS } from "./order-mapper.js";

/**
 * createOrderServiceV2 implements shop.order.v2.OrderService over the same use cases as v1: only the message shapes
 * differ, so an order, an idempotency key or a page token is the same whichever version the caller speaks.
 */
export function createOrderServiceV2(orders: OrderUseCases): ServiceImpl<typeof OrderService> {
  return {
    async createOrder(request, ctx) {
      return { order: toV2Order(await orders.create(fromV2CreateOrder(request), callOf(ctx))) };
    },
    ...sharedHandlers(orders, { toMessage: toV2Order, status: V2_STATUS }),
  };
}

/**
 * fromV2CreateOrder validates a v2 CreateOrderRequest into the command, naming v2's fields (`items[0].quantity`,
 * `payment.card_token`). A missing `payment` is a missing card token.
 */
export function fromV2CreateOrder(request: CreateOrderRequest): CreateOrderCommand {
  return {
    customerId: customerIdOf("customer_id", request.customerId),
    lines: orderLinesOf("items", request.items),
    cardToken: cardTokenOf("payment.card_token", request.payment?.cardToken ?? ""),
    linesField: "items",
  };
}
