import type { ServiceImpl } from "@connectrpc/connect";
import type { CreateOrderRequest, OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { cardTokenOf, customerIdOf, orderLinesOf, type CreateOrderCommand } from "../../domain/order-commands.js";
import type { OrderUseCases } from "../../order-use-cases.js";
import { callOf, sharedHandlers } from "../shared-handlers.js";
import { toV1Order, V1_STATUS } from "./order-mapper.js";

/**
 * createOrderService implements shop.order.v1.OrderService (deprecated; served until its sunset, docs/versioning.md)
 * over the use cases: v1 messages in, v1 messages out, nothing else.
 */
export function createOrderService(orders: OrderUseCases): ServiceImpl<typeof OrderService> {
  return {
    async createOrder(request, ctx) {
      return { order: toV1Order(await orders.create(fromV1CreateOrder(request), callOf(ctx))) };
    },
    ...sharedHandlers(orders, { toMessage: toV1Order, status: V1_STATUS }),
  };
}

/** fromV1CreateOrder validates a v1 CreateOrderRequest into the command, naming v1's fields (`lines[0].quantity`). */
export function fromV1CreateOrder(request: CreateOrderRequest): CreateOrderCommand {
  return {
    customerId: customerIdOf("customer_id", request.customerId),
    lines: orderLinesOf("lines", request.lines),
    cardToken: cardTokenOf("card_token", request.cardToken),
    linesField: "lines",
  };
}
