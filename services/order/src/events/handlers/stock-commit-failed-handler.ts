import { StockCommitFailedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { eventHandler } from "#shared/events/consumer.js";
import type { Logger } from "#shared/logger.js";
import type { OrderUseCases } from "../../order-use-cases.js";

/**
 * StockCommitFailedHandler cancels a paid order whose stock inventory could not take ("stock no longer available"),
 * from AWAITING_PAYMENT or CONFIRMED, and publishes OrderCancelled with the payment id, so payment refunds it.
 */
export function stockCommitFailedHandler(orders: OrderUseCases, logger: Logger) {
  return eventHandler(StockCommitFailedSchema, (message, event) => {
    const { orderId, paymentId } = message;
    const result = orders.applyStockCommitFailed(event.inboxConsumer, event, orderId, paymentId, message.reason);
    const fields = { eventId: event.id, orderId, paymentId, result: result.kind };
    if (result.kind === "duplicate") logger.debug(fields, "StockCommitFailed already handled; skipped");
    else if (result.kind === "unknown-order") logger.warn(fields, "StockCommitFailed for an unknown order; skipped");
    else if (result.kind === "ignored") logger.info({ ...fields, reason: result.reason }, "StockCommitFailed changed nothing");
    else logger.warn({ ...fields, reason: message.reason }, "paid order cancelled: its stock is no longer available; payment refunds it");
  });
}
