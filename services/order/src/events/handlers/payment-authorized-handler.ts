import { PaymentAuthorizedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import type { Logger } from "#shared/logger.js";
import { onPaymentAuthorized } from "../../domain/order.js";
import type { OrderUseCases } from "../../order-use-cases.js";
import { paymentOutcomeHandler } from "./payment-outcome-handler.js";

/**
 * PaymentAuthorizedHandler confirms the paid order (+OrderConfirmed). For an order cancelled meanwhile it only
 * records the payment id: payment refunds on its own when it sees the OrderCancelled.
 */
export function paymentAuthorizedHandler(orders: OrderUseCases, logger: Logger) {
  return paymentOutcomeHandler(PaymentAuthorizedSchema, orders, logger, (order, message, at) =>
    onPaymentAuthorized(order, message.paymentId, at),
  );
}
