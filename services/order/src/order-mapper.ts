import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  OrderLineSchema,
  OrderSchema,
  OrderStatus as ProtoOrderStatus,
  type Order as ProtoOrder,
} from "../../../gen/shop/order/v1/order_service_pb.js";
import { invalidArgument } from "../../shared/src/errors.js";
import { toProtoMoney } from "../../shared/src/money.js";
import type { Order, OrderLine, OrderStatus } from "./domain/order.js";

const TO_PROTO_STATUS: Record<OrderStatus, ProtoOrderStatus> = {
  AWAITING_PAYMENT: ProtoOrderStatus.AWAITING_PAYMENT,
  CONFIRMED: ProtoOrderStatus.CONFIRMED,
  CANCELLED: ProtoOrderStatus.CANCELLED,
};

/** toProtoLines maps priced domain lines to proto order lines. */
export function toProtoLines(lines: readonly OrderLine[]) {
  return lines.map((line) =>
    create(OrderLineSchema, {
      productId: line.productId,
      quantity: line.quantity,
      unitPrice: toProtoMoney(line.unitPrice),
      lineTotal: toProtoMoney(line.lineTotal),
    }),
  );
}

/** toProtoOrder maps the domain order to the shop.order.v1.Order message. */
export function toProtoOrder(order: Order): ProtoOrder {
  return create(OrderSchema, {
    orderId: order.orderId,
    customerId: order.customerId,
    lines: toProtoLines(order.lines),
    total: toProtoMoney(order.total),
    status: TO_PROTO_STATUS[order.status],
    createTime: timestampFromDate(order.createTime),
    updateTime: timestampFromDate(order.updateTime),
    paymentId: order.paymentId,
    cancelReason: order.cancelReason,
    history: order.history.map((change) => ({
      status: TO_PROTO_STATUS[change.status],
      changeTime: timestampFromDate(change.at),
      reason: change.reason,
    })),
  });
}

/** fromProtoStatusFilter maps a ListOrders status filter; UNSPECIFIED means any status. */
export function fromProtoStatusFilter(status: ProtoOrderStatus): OrderStatus | undefined {
  switch (status) {
    case ProtoOrderStatus.UNSPECIFIED:
      return undefined;
    case ProtoOrderStatus.AWAITING_PAYMENT:
      return "AWAITING_PAYMENT";
    case ProtoOrderStatus.CONFIRMED:
      return "CONFIRMED";
    case ProtoOrderStatus.CANCELLED:
      return "CANCELLED";
    default:
      throw invalidArgument("status", `unknown order status ${String(status)}`);
  }
}
