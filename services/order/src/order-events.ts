import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OrderCancelledSchema, OrderConfirmedSchema, OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { toOutgoingEvent } from "#shared/events/event-bus.js";
import type { OutboxEvent } from "#shared/events/outbox.js";
import { Topics } from "#shared/events/topics.js";
import { toProtoMoney } from "#shared/money.js";
import { toV1Lines } from "./api/v1/order-mapper.js";
import type { Order } from "./domain/order.js";

/**
 * EVENT_SOURCE is the CloudEvents `source` of everything the order service publishes. `traceparent` is left to
 * toOutgoingEvent, which takes it from the call or event being handled.
 */
const EVENT_SOURCE = "shopmesh/order";

function outboxEvent(event: ReturnType<typeof toOutgoingEvent>): OutboxEvent {
  return { ...event, topic: Topics.orderEvents };
}

/** orderCreatedEvent is the OrderCreated outbox row of a new order; it carries the card token for payment. */
export function orderCreatedEvent(order: Order, cardToken: string): OutboxEvent {
  const message = create(OrderCreatedSchema, {
    orderId: order.orderId,
    customerId: order.customerId,
    // OrderCreated reuses shop.order.v1.OrderLine, so its lines map as v1 answers map them.
    lines: toV1Lines(order.lines),
    total: toProtoMoney(order.total),
    cardToken,
    createTime: timestampFromDate(order.createTime),
  });
  return outboxEvent(
    toOutgoingEvent(OrderCreatedSchema, message, { source: EVENT_SOURCE, subject: order.orderId, time: order.createTime }),
  );
}

/** orderConfirmedEvent is the OrderConfirmed outbox row of a paid order. */
export function orderConfirmedEvent(order: Order): OutboxEvent {
  const message = create(OrderConfirmedSchema, {
    orderId: order.orderId,
    paymentId: order.paymentId,
    confirmTime: timestampFromDate(order.updateTime),
  });
  return outboxEvent(
    toOutgoingEvent(OrderConfirmedSchema, message, { source: EVENT_SOURCE, subject: order.orderId, time: order.updateTime }),
  );
}

/**
 * orderCancelledEvent is the OrderCancelled outbox row. `paymentId` is set only when the payment must be refunded
 * (a confirmed order cancelled by the customer); empty means inventory just releases the reservation.
 */
export function orderCancelledEvent(order: Order, paymentId: string): OutboxEvent {
  const message = create(OrderCancelledSchema, {
    orderId: order.orderId,
    reason: order.cancelReason,
    paymentId,
    cancelTime: timestampFromDate(order.updateTime),
  });
  return outboxEvent(
    toOutgoingEvent(OrderCancelledSchema, message, { source: EVENT_SOURCE, subject: order.orderId, time: order.updateTime }),
  );
}
