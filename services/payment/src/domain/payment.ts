import { failedPrecondition } from "#shared/errors.js";
import type { Money } from "#shared/money.js";

/** PaymentStatus is where a payment stands; the names match the proto enum without its prefix. */
export type PaymentStatus = "AUTHORIZED" | "DECLINED" | "REFUNDED";

/** Payment is one charge attempt for one order (the aggregate this service owns). */
export interface Payment {
  readonly paymentId: string;
  readonly orderId: string;
  readonly amount: Money;
  readonly status: PaymentStatus;
  /** declineReason is empty unless the payment was declined. */
  readonly declineReason: string;
  readonly cardLast4: string;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** RefundPlan says what a refund request does to a payment. */
export type RefundPlan = "refund" | "already-refunded";

/**
 * planRefund is the refund rule: an AUTHORIZED payment is refunded in full; a REFUNDED one stays as it is (refunding
 * twice is a no-op, so a retried RefundPayment is safe); a DECLINED one was never charged, so FAILED_PRECONDITION.
 */
export function planRefund(payment: Pick<Payment, "paymentId" | "status">): RefundPlan {
  switch (payment.status) {
    case "AUTHORIZED":
      return "refund";
    case "REFUNDED":
      return "already-refunded";
    case "DECLINED":
      throw failedPrecondition(`payment "${payment.paymentId}" was declined; there is nothing to refund`);
  }
}

/** refunded returns the payment after a full refund at `now`. */
export function refunded(payment: Payment, now: Date): Payment {
  return { ...payment, status: "REFUNDED", updateTime: now };
}
