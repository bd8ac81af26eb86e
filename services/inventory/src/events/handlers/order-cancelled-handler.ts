import { OrderCancelledSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { eventHandler } from "#shared/events/consumer.js";
import type { Logger } from "#shared/logger.js";
import type { Reservations } from "../../reservations.js";
import { logEffect } from "./log-effect.js";

/**
 * OrderCancelledHandler gives a cancelled order's stock back: a HELD reservation is released, a COMMITTED one
 * (cancelled after payment) is restocked; both publish StockReleased.
 */
export function orderCancelledHandler(reservations: Reservations, logger: Logger) {
  return eventHandler(OrderCancelledSchema, (message, event) => {
    const reason = message.reason ? `order cancelled: ${message.reason}` : "order cancelled";
    const effect = reservations.cancelForOrder(event.inboxConsumer, event, message.orderId, reason);
    logEffect(logger, effect, { eventId: event.id, eventType: event.type, orderId: message.orderId });
  });
}
