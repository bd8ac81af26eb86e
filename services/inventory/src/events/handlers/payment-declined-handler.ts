import { PaymentDeclinedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { eventHandler } from "#shared/events/consumer.js";
import type { Logger } from "#shared/logger.js";
import type { Reservations } from "../../reservations.js";
import { logEffect } from "./log-effect.js";

/** PaymentDeclinedHandler releases the order's HELD reservation (compensation), publishing StockReleased. */
export function paymentDeclinedHandler(reservations: Reservations, logger: Logger) {
  return eventHandler(PaymentDeclinedSchema, (message, event) => {
    const reason = message.reason ? `payment declined: ${message.reason}` : "payment declined";
    const effect = reservations.releaseForOrder(event.inboxConsumer, event, message.orderId, reason);
    logEffect(logger, effect, { eventId: event.id, eventType: event.type, orderId: message.orderId });
  });
}
