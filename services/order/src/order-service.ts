import type { OrderService } from "../../../gen/shop/order/v1/order_service_pb.js";
import type { ServiceImpl } from "@connectrpc/connect";
import { fromProtoStatusFilter, toProtoOrder } from "./order-mapper.js";
import type { OrderUseCases } from "./order-use-cases.js";

/**
 * createOrderService implements shop.order.v1.OrderService: each handler maps v1 messages to the shared use cases and
 * back; the rules live in the domain and the use cases.
 */
export function createOrderService(orders: OrderUseCases): ServiceImpl<typeof OrderService> {
  return {
    async createOrder(request, ctx) {
      return { order: toProtoOrder(await orders.create(request, ctx)) };
    },

    getOrder(request) {
      return { order: toProtoOrder(orders.get(request.orderId)) };
    },

    listOrders(request) {
      const page = orders.list({ ...request, status: fromProtoStatusFilter(request.status) });
      return { orders: page.orders.map(toProtoOrder), nextPageToken: page.nextPageToken };
    },

    cancelOrder(request, ctx) {
      return { order: toProtoOrder(orders.cancel(request.orderId, request.reason, ctx)) };
    },

    async *watchOrder(request, ctx) {
      for await (const order of orders.watch(request.orderId, ctx)) yield { order: toProtoOrder(order) };
    },
  };
}
