import { OrderCancelledSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { eventHandler } from "#shared/events/consumer.js";
import type { Logger } from "#shared/logger.js";
import type { Payments } from "../../payments.js";

/**
 * OrderCancelledHandler refunds a cancelled order's authorized payment. Orders cancelled before payment, declined
 * payments and orders this service never saw need nothing.
 */
export function orderCancelledHandler(payments: Payments, logger: Logger) {
  return eventHandler(OrderCancelledSchema, (cancel, event) => {
    const fields = { orderId: cancel.orderId, eventId: event.id, traceparent: event.traceparent };
    const outcome = payments.cancelOrder(cancel, event);
    switch (outcome.kind) {
      case "refunded":
        logger.info({ ...fields, paymentId: outcome.payment.paymentId }, "payment refunded for a cancelled order");
        return;
      case "nothing-to-refund":
        logger.info(
          { ...fields, paymentId: outcome.payment?.paymentId, status: outcome.payment?.status ?? "NONE" },
          "order cancelled; nothing to refund",
        );
        return;
      case "duplicate-event":
        logger.debug(fields, "OrderCancelled already handled; skipped");
        return;
    }
  });
}
