import { PaymentAuthorizedSchema } from "../../../../../gen/shop/payment/v1/payment_events_pb.js";
import { eventHandler } from "../../../../shared/src/events/consumer.js";
import type { Logger } from "../../../../shared/src/logger.js";
import { onPaymentAuthorized } from "../../domain/order.js";
import type { OrderTransitions } from "../../order-transitions.js";

/**
 * PaymentAuthorizedHandler confirms the paid order (+OrderConfirmed). For an order cancelled meanwhile it only
 * records the payment id: payment refunds on its own when it sees the OrderCancelled.
 */
export function paymentAuthorizedHandler(transitions: OrderTransitions, logger: Logger) {
  return eventHandler(PaymentAuthorizedSchema, (message, event) => {
    const orderId = message.orderId;
    const result = transitions.applyPayment(event.inboxConsumer, event, orderId, (order) =>
      onPaymentAuthorized(order, message.paymentId, new Date()),
    );
    const fields = { eventId: event.id, orderId, paymentId: message.paymentId, result: result.kind };
    if (result.kind === "duplicate") logger.debug(fields, "PaymentAuthorized already handled; skipped");
    else if (result.kind === "unknown-order") logger.warn(fields, "PaymentAuthorized for an unknown order; skipped");
    else if (result.kind === "ignored") logger.info({ ...fields, reason: result.reason }, "PaymentAuthorized changed nothing");
    else logger.info(fields, "PaymentAuthorized handled");
  });
}
