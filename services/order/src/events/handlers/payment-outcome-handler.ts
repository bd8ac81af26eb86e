import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { eventHandler, type EventHandler } from "#shared/events/consumer.js";
import type { Logger } from "#shared/logger.js";
import type { Order, PaymentOutcome } from "../../domain/order.js";
import type { OrderUseCases } from "../../order-use-cases.js";

/** PaymentEventShape is what both payment outcomes carry: the order they are about and the payment's id. */
type PaymentEventShape = { readonly orderId: string; readonly paymentId: string };

/**
 * paymentOutcomeHandler applies one kind of payment event to its order, once (the inbox, under the handler's own
 * consumer name), with `decide` as the domain rule, and logs what it did. PaymentAuthorized and PaymentDeclined
 * differ only in their schema and rule.
 */
export function paymentOutcomeHandler<Desc extends DescMessage>(
  schema: Desc,
  orders: OrderUseCases,
  logger: Logger,
  decide: (order: Order, message: MessageShape<Desc> & PaymentEventShape, at: Date) => PaymentOutcome,
): EventHandler<Desc> {
  const eventName = schema.name;
  return eventHandler(schema, (message, event) => {
    const payment = message as MessageShape<Desc> & PaymentEventShape;
    const orderId = payment.orderId;
    const result = orders.applyPayment(event.inboxConsumer, event, orderId, (order) => decide(order, payment, new Date()));
    const fields = { eventId: event.id, orderId, paymentId: payment.paymentId, result: result.kind };
    if (result.kind === "duplicate") logger.debug(fields, `${eventName} already handled; skipped`);
    else if (result.kind === "unknown-order") logger.warn(fields, `${eventName} for an unknown order; skipped`);
    else if (result.kind === "ignored") logger.info({ ...fields, reason: result.reason }, `${eventName} changed nothing`);
    else logger.info(fields, `${eventName} handled`);
  });
}
