import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { eventHandler } from "#shared/events/consumer.js";
import type { Logger } from "#shared/logger.js";
import type { Payments } from "../../payments.js";

/**
 * OrderCreatedHandler charges a new order's card. A throw (unsupported currency, broken event) goes back to the bus,
 * which retries and then dead-letters the event; a decline is not a throw but a PaymentDeclined event.
 */
export function orderCreatedHandler(payments: Payments, logger: Logger) {
  return eventHandler(OrderCreatedSchema, (order, event) => {
    const fields = { orderId: order.orderId, eventId: event.id, traceparent: event.traceparent };
    const outcome = payments.chargeOrder(order, event);
    switch (outcome.kind) {
      case "charged":
        logger.info(
          {
            ...fields,
            paymentId: outcome.payment.paymentId,
            status: outcome.payment.status,
            reason: outcome.payment.declineReason || undefined,
          },
          outcome.payment.status === "AUTHORIZED" ? "payment authorized" : "payment declined",
        );
        return;
      case "already-charged":
        logger.warn({ ...fields, paymentId: outcome.payment.paymentId }, "order already has a payment; not charged again");
        return;
      case "duplicate-event":
        logger.debug(fields, "OrderCreated already handled; skipped");
        return;
    }
  });
}
