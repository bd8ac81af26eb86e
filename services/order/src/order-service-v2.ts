import type { OrderService } from "../../../gen/shop/order/v2/order_service_pb.js";
import type { ServiceImpl } from "@connectrpc/connect";
import { fromProtoCreateOrderV2, fromProtoStatusFilterV2, toProtoOrderV2, V2_FIELDS } from "./order-mapper-v2.js";
import type { OrderUseCases } from "./order-use-cases.js";

/**
 * createOrderServiceV2 implements shop.order.v2.OrderService over the same use cases as v1: only the message shapes
 * differ, so an order, an idempotency key or a page token is the same whichever version the caller speaks.
 */
export function createOrderServiceV2(orders: OrderUseCases): ServiceImpl<typeof OrderService> {
  return {
    async createOrder(request, ctx) {
      return { order: toProtoOrderV2(await orders.create(fromProtoCreateOrderV2(request), ctx, V2_FIELDS)) };
    },

    getOrder(request) {
      return { order: toProtoOrderV2(orders.get(request.orderId)) };
    },

    listOrders(request) {
      const page = orders.list({ ...request, status: fromProtoStatusFilterV2(request.status) });
      return { orders: page.orders.map(toProtoOrderV2), nextPageToken: page.nextPageToken };
    },

    cancelOrder(request, ctx) {
      return { order: toProtoOrderV2(orders.cancel(request.orderId, request.reason, ctx)) };
    },

    async *watchOrder(request, ctx) {
      for await (const order of orders.watch(request.orderId, ctx)) yield { order: toProtoOrderV2(order) };
    },
  };
}
