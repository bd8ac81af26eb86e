import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { PaymentAuthorizedSchema, PaymentDeclinedSchema, PaymentRefundedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { eventSource, toOutgoingEvent } from "#shared/events/event-bus.js";
import type { OutboxEvent } from "#shared/events/outbox.js";
import { toProtoMoney } from "#shared/money.js";
import { Topics } from "#shared/events/topics.js";
import type { Payment } from "../domain/payment.js";

/** PAYMENT_EVENT_SOURCE is the CloudEvents `source` of every event this service publishes. */
const PAYMENT_EVENT_SOURCE = eventSource("payment");

/**
 * paymentOutcomeEvent is the event a new payment announces: PaymentAuthorized or PaymentDeclined, keyed by the order
 * id (so it lands on the order's partition, after OrderCreated). Its `traceparent` continues the trace of the
 * event or call being handled (toOutgoingEvent reads it from the trace context).
 */
export function paymentOutcomeEvent(payment: Payment): OutboxEvent {
  const attributes = { source: PAYMENT_EVENT_SOURCE, subject: payment.orderId, time: payment.updateTime };
  const at = timestampFromDate(payment.updateTime);
  const event =
    payment.status === "DECLINED"
      ? toOutgoingEvent(
          PaymentDeclinedSchema,
          create(PaymentDeclinedSchema, {
            paymentId: payment.paymentId,
            orderId: payment.orderId,
            reason: payment.declineReason,
            declineTime: at,
          }),
          attributes,
        )
      : toOutgoingEvent(
          PaymentAuthorizedSchema,
          create(PaymentAuthorizedSchema, {
            paymentId: payment.paymentId,
            orderId: payment.orderId,
            amount: toProtoMoney(payment.amount),
            authorizeTime: at,
          }),
          attributes,
        );
  return { ...event, topic: Topics.paymentEvents };
}

/** paymentRefundedEvent announces a full refund. */
export function paymentRefundedEvent(payment: Payment): OutboxEvent {
  const event = toOutgoingEvent(
    PaymentRefundedSchema,
    create(PaymentRefundedSchema, {
      paymentId: payment.paymentId,
      orderId: payment.orderId,
      amount: toProtoMoney(payment.amount),
      refundTime: timestampFromDate(payment.updateTime),
    }),
    { source: PAYMENT_EVENT_SOURCE, subject: payment.orderId, time: payment.updateTime },
  );
  return { ...event, topic: Topics.paymentEvents };
}
