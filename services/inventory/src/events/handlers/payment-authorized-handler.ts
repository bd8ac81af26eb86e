import { PaymentAuthorizedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { eventHandler } from "#shared/events/consumer.js";
import type { Logger } from "#shared/logger.js";
import type { Reservations } from "../../reservations.js";
import { logEffect } from "./log-effect.js";

/**
 * PaymentAuthorizedHandler commits the paid order's reservation (HELD → COMMITTED, StockCommitted). One released
 * before the payment came (expired) is reserved again and committed, or, with the stock gone, answered with
 * StockCommitFailed. A committed one, or one of a cancelled order, is left alone; an unknown one is logged and skipped.
 */
export function paymentAuthorizedHandler(reservations: Reservations, logger: Logger) {
  return eventHandler(PaymentAuthorizedSchema, (message, event) => {
    const effect = reservations.commitForOrder(event.inboxConsumer, event, message.orderId, message.paymentId);
    logEffect(logger, effect, { eventId: event.id, eventType: event.type, orderId: message.orderId });
  });
}
