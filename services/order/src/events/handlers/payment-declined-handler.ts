import { PaymentDeclinedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import type { Logger } from "#shared/logger.js";
import { onPaymentDeclined } from "../../domain/order.js";
import type { OrderUseCases } from "../../order-use-cases.js";
import { paymentOutcomeHandler } from "./payment-outcome-handler.js";

/** PaymentDeclinedHandler cancels the order with "payment declined: <reason>" (+OrderCancelled without payment id). */
export function paymentDeclinedHandler(orders: OrderUseCases, logger: Logger) {
  return paymentOutcomeHandler(PaymentDeclinedSchema, orders, logger, (order, message, at) => onPaymentDeclined(order, message.reason, at));
}
