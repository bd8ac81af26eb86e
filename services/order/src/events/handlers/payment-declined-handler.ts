import { PaymentDeclinedSchema } from "../../../../../gen/shop/payment/v1/payment_events_pb.js";
import { eventHandler } from "../../../../shared/src/events/consumer.js";
import type { Logger } from "../../../../shared/src/logger.js";
import { onPaymentDeclined } from "../../domain/order.js";
import type { OrderTransitions } from "../../order-transitions.js";

/** PaymentDeclinedHandler cancels the order with "payment declined: <reason>" (+OrderCancelled without payment id). */
export function paymentDeclinedHandler(transitions: OrderTransitions, logger: Logger) {
  return eventHandler(PaymentDeclinedSchema, (message, event) => {
    const orderId = message.orderId;
    const result = transitions.applyPayment(event.inboxConsumer, event, orderId, (order) =>
      onPaymentDeclined(order, message.reason, new Date()),
    );
    const fields = { eventId: event.id, orderId, paymentId: message.paymentId, result: result.kind };
    if (result.kind === "duplicate") logger.debug(fields, "PaymentDeclined already handled; skipped");
    else if (result.kind === "unknown-order") logger.warn(fields, "PaymentDeclined for an unknown order; skipped");
    else if (result.kind === "ignored") logger.info({ ...fields, reason: result.reason }, "PaymentDeclined changed nothing");
    else logger.info(fields, "PaymentDeclined handled");
  });
}
