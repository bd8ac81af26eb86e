import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  OrderSchema,
  OrderStatus as ProtoOrderStatus,
  type CreateOrderRequest,
  type Order as ProtoOrder,
} from "../../../gen/shop/order/v2/order_service_pb.js";
import { invalidArgument } from "../../shared/src/errors.js";
import type { CreateOrderFields, CreateOrderInput } from "./domain/create-order-command.js";
import type { Order, OrderStatus } from "./domain/order.js";
import { toProtoMoney } from "../../shared/src/money.js";

/** V2_FIELDS are shop.order.v2's paths for the CreateOrder fields v1 spells differently. */
export const V2_FIELDS: CreateOrderFields = { customerId: "customer_id", lines: "items", cardToken: "payment.card_token" };

const TO_PROTO_STATUS: Record<OrderStatus, ProtoOrderStatus> = {
  AWAITING_PAYMENT: ProtoOrderStatus.AWAITING_PAYMENT,
  CONFIRMED: ProtoOrderStatus.CONFIRMED,
  CANCELLED: ProtoOrderStatus.CANCELLED,
};

const FROM_PROTO_STATUS: Partial<Record<ProtoOrderStatus, OrderStatus>> = {
  [ProtoOrderStatus.AWAITING_PAYMENT]: "AWAITING_PAYMENT",
  [ProtoOrderStatus.CONFIRMED]: "CONFIRMED",
  [ProtoOrderStatus.CANCELLED]: "CANCELLED",
};

/**
 * fromProtoCreateOrderV2 maps a v2 CreateOrder request to the version-neutral input. A missing `payment` becomes an
 * empty card token, which validation rejects as `payment.card_token: is required`.
 */
export function fromProtoCreateOrderV2(request: CreateOrderRequest): CreateOrderInput {
  return { customerId: request.customerId, lines: request.items, cardToken: request.payment?.cardToken ?? "" };
}

/**
 * toProtoOrderV2 maps the domain order to the shop.order.v2.Order message. `state` condenses v1's status, history and
 * cancel reason: its reason and time are those of the latest transition.
 */
export function toProtoOrderV2(order: Order): ProtoOrder {
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
      status: TO_PROTO_STATUS[order.status],
      reason: latest?.reason ?? "",
      since: timestampFromDate(latest?.at ?? order.updateTime),
    },
    createTime: timestampFromDate(order.createTime),
    paymentId: order.paymentId,
  });
}

/** fromProtoStatusFilterV2 maps a v2 ListOrders status filter; UNSPECIFIED means any status. */
export function fromProtoStatusFilterV2(status: ProtoOrderStatus): OrderStatus | undefined {
  if (status === ProtoOrderStatus.UNSPECIFIED) return undefined;
  const mapped = FROM_PROTO_STATUS[status];
  if (mapped === undefined) throw invalidArgument("status", `unknown order status ${String(status)}`);
  return mapped;
}
