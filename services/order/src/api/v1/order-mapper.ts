import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  OrderLineSchema,
  OrderSchema,
  OrderStatus as V1OrderStatus,
  type Order as V1Order,
  type OrderLine as V1OrderLine,
} from "#gen/shop/order/v1/order_service_pb.js";
import { toProtoMoney } from "#shared/money.js";
import type { Order, OrderLine, OrderStatus } from "../../domain/order.js";

/** V1_STATUS is shop.order.v1's spelling of each order status. */
export const V1_STATUS: Readonly<Record<OrderStatus, V1OrderStatus>> = {
  AWAITING_PAYMENT: V1OrderStatus.AWAITING_PAYMENT,
  CONFIRMED: V1OrderStatus.CONFIRMED,
  CANCELLED: V1OrderStatus.CANCELLED,
};

/** toV1Lines maps priced lines to shop.order.v1.OrderLine, which the OrderCreated event carries too. */
export function toV1Lines(lines: readonly OrderLine[]): V1OrderLine[] {
  return lines.map((line) =>
    create(OrderLineSchema, {
      productId: line.productId,
      quantity: line.quantity,
      unitPrice: toProtoMoney(line.unitPrice),
      lineTotal: toProtoMoney(line.lineTotal),
    }),
  );
}

/** toV1Order maps an order to shop.order.v1.Order: status, cancel reason and the whole history side by side. */
export function toV1Order(order: Order): V1Order {
  return create(OrderSchema, {
    orderId: order.orderId,
    customerId: order.customerId,
    lines: toV1Lines(order.lines),
    total: toProtoMoney(order.total),
    status: V1_STATUS[order.status],
    createTime: timestampFromDate(order.createTime),
    updateTime: timestampFromDate(order.updateTime),
    paymentId: order.paymentId,
    cancelReason: order.cancelReason,
    history: order.history.map((change) => ({
      status: V1_STATUS[change.status],
      changeTime: timestampFromDate(change.at),
      reason: change.reason,
    })),
  });
}
