import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OrderSchema, OrderStatus as V2OrderStatus, type Order as V2Order } from "#gen/shop/order/v2/order_service_pb.js";
import { toProtoMoney } from "#shared/money.js";
import type { Order, OrderStatus } from "../../domain/order.js";

/** V2_STATUS is shop.order.v2's spelling of each order status. */
export const V2_STATUS: Readonly<Record<OrderStatus, V2OrderStatus>> = {
  AWAITING_PAYMENT: V2OrderStatus.AWAITING_PAYMENT,
  CONFIRMED: V2OrderStatus.CONFIRMED,
  CANCELLED: V2OrderStatus.CANCELLED,
};

/**
 * toV2Order maps an order to shop.order.v2.Order. `state` condenses v1's status, history and cancel reason: its
 * reason and time are those of the latest transition.
 */
export function toV2Order(order: Order): V2Order {
  const latest = order.history.at(-1);
  return create(OrderSchema, {
    orderId: order.orderId,
    customerId: order.customerId,
    items: order.lines.map((line) => ({
      productId: line.productId,
      quantity: line.quantity,
      unitPrice: toProtoMoney(line.unitPrice),
      subtotal: toProtoMoney(line.lineTotal),
    })),
    total: toProtoMoney(order.total),
    state: {
      status: V2_STATUS[order.status],
      reason: latest?.reason ?? "",
      since: timestampFromDate(latest?.at ?? order.updateTime),
    },
    createTime: timestampFromDate(order.createTime),
    paymentId: order.paymentId,
  });
}
