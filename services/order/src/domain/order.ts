import { failedPrecondition, invalidArgument } from "#shared/errors.js";
import { formatMoney, MAX_AMOUNT_MINOR, mixedCurrencies, sum, times, type Money } from "#shared/money.js";
import type { RequestedLine } from "./order-commands.js";

/** OrderStatus is where an order stands; the gRPC layer maps it to the proto enum. */
export type OrderStatus = "AWAITING_PAYMENT" | "CONFIRMED" | "CANCELLED";

/** OrderLine is one priced line of an order. */
export interface OrderLine {
  readonly productId: string;
  readonly quantity: number;
  readonly unitPrice: Money;
  readonly lineTotal: Money;
}

/** StatusChange is one entry of an order's history. */
export interface StatusChange {
  readonly status: OrderStatus;
  readonly at: Date;
  readonly reason: string;
}

/** Order is the order aggregate as the domain sees it. */
export interface Order {
  readonly orderId: string;
  readonly customerId: string;
  readonly lines: readonly OrderLine[];
  readonly total: Money;
  readonly status: OrderStatus;
  readonly createTime: Date;
  readonly updateTime: Date;
  readonly paymentId: string;
  readonly cancelReason: string;
  readonly history: readonly StatusChange[];
}

/**
 * TRANSITIONS lists the legal status changes. CONFIRMED → CANCELLED exists because a customer may cancel a paid
 * order (payment refunds it); CANCELLED is final.
 */
const TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  AWAITING_PAYMENT: ["CONFIRMED", "CANCELLED"],
  CONFIRMED: ["CANCELLED"],
  CANCELLED: [],
};

/** canTransition tells whether the state machine allows `from → to`. */
export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * isTerminal tells whether a watcher has seen the end of an order: CONFIRMED and CANCELLED are where an order comes
 * to rest (a later customer cancellation of a confirmed order is a new, rare event that GetOrder shows).
 */
export function isTerminal(status: OrderStatus): boolean {
  return status === "CONFIRMED" || status === "CANCELLED";
}

/** newOrder builds a new order, AWAITING_PAYMENT, with its first history entry. */
export function newOrder(init: { orderId: string; customerId: string; lines: readonly OrderLine[]; total: Money; at: Date }): Order {
  const { at, ...fields } = init;
  return {
    ...fields,
    status: "AWAITING_PAYMENT",
    createTime: at,
    updateTime: at,
    paymentId: "",
    cancelReason: "",
    history: [{ status: "AWAITING_PAYMENT", at, reason: "order created" }],
  };
}

/**
 * priceLines prices the requested lines at the unit prices inventory reserved them at, and totals them. An order has
 * one currency; products priced in different ones are FAILED_PRECONDITION (the catalog, not the request, is the
 * problem), naming the caller's `linesField`.
 */
export function priceLines(
  requested: readonly RequestedLine[],
  unitPrices: ReadonlyMap<string, Money>,
  linesField: string,
): { lines: OrderLine[]; total: Money } {
  const lines = requested.map((line, i) => {
    const unitPrice = unitPrices.get(line.productId);
    if (unitPrice === undefined) throw new Error(`reservation has no price for product "${line.productId}"`);
    const lineTotal = times(unitPrice, line.quantity);
    if (lineTotal.amountMinor > MAX_AMOUNT_MINOR) {
      throw invalidArgument(
        `${linesField}[${i}].quantity`,
        `${line.quantity} × ${formatMoney(unitPrice)} exceeds the largest amount an order can hold (${MAX_AMOUNT_MINOR} minor units)`,
      );
    }
    return { ...line, unitPrice, lineTotal };
  });
  const mixed = mixedCurrencies(lines.map((line) => line.unitPrice));
  if (mixed !== undefined) {
    throw failedPrecondition(`${linesField}: products are priced in ${mixed[0]} and ${mixed[1]}; an order has one currency`);
  }
  const total = sum(lines.map((line) => line.lineTotal));
  if (total.amountMinor > MAX_AMOUNT_MINOR) {
    throw invalidArgument(
      linesField,
      `the total ${formatMoney(total)} exceeds the largest amount an order can hold (${MAX_AMOUNT_MINOR} minor units)`,
    );
  }
  return { lines, total };
}

/** transition moves an order to `to`; an illegal move is FAILED_PRECONDITION naming both states. */
export function transition(
  order: Order,
  to: OrderStatus,
  change: { at: Date; reason: string; paymentId?: string; cancelReason?: string },
): Order {
  if (!canTransition(order.status, to)) {
    throw failedPrecondition(`order ${order.orderId} is ${order.status} and cannot become ${to}`);
  }
  return {
    ...order,
    status: to,
    updateTime: change.at,
    paymentId: change.paymentId ?? order.paymentId,
    cancelReason: change.cancelReason ?? order.cancelReason,
    history: [...order.history, { status: to, at: change.at, reason: change.reason }],
  };
}

/**
 * PaymentOutcome is what handling a payment (or stock) event does to an order. A cancellation's `refundPaymentId`
 * is the payment its OrderCancelled asks to refund; empty or absent when nothing was paid.
 */
export type PaymentOutcome =
  | { kind: "confirmed"; order: Order }
  | { kind: "cancelled"; order: Order; refundPaymentId?: string }
  | { kind: "payment-recorded"; order: Order }
  | { kind: "ignored"; reason: string };

/**
 * onPaymentAuthorized confirms an order awaiting payment. A cancelled order only records the payment id: payment
 * refunds it on its own, because it sees the OrderCancelled that follows the OrderCreated it charged.
 */
export function onPaymentAuthorized(order: Order, paymentId: string, at: Date): PaymentOutcome {
  if (order.status === "AWAITING_PAYMENT") {
    return { kind: "confirmed", order: transition(order, "CONFIRMED", { at, reason: "payment authorized", paymentId }) };
  }
  if (order.status === "CANCELLED" && order.paymentId === "") {
    return { kind: "payment-recorded", order: { ...order, paymentId } };
  }
  return { kind: "ignored", reason: `order is ${order.status}` };
}

/** onPaymentDeclined cancels an order awaiting payment, giving the processor's reason. */
export function onPaymentDeclined(order: Order, reason: string, at: Date): PaymentOutcome {
  if (order.status !== "AWAITING_PAYMENT") return { kind: "ignored", reason: `order is ${order.status}` };
  const cancelReason = `payment declined: ${reason}`;
  return { kind: "cancelled", order: transition(order, "CANCELLED", { at, reason: cancelReason, cancelReason }) };
}

/** STOCK_GONE_REASON is the cancel reason of a paid order whose stock could not be taken (StockCommitFailed). */
export const STOCK_GONE_REASON = "stock no longer available";

/**
 * onStockCommitFailed cancels a paid order whose stock inventory could not take (its reservation expired before the
 * payment arrived, and the stock was sold meanwhile), and asks for the payment to be refunded. It applies whether
 * the order is still AWAITING_PAYMENT (the stock event came before PaymentAuthorized: the payment id is recorded
 * from it) or already CONFIRMED: that is the one automatic CONFIRMED → CANCELLED. A cancelled order only records the
 * payment id, like onPaymentAuthorized; payment refunds it on the OrderCancelled it already saw.
 */
export function onStockCommitFailed(order: Order, paymentId: string, detail: string, at: Date): PaymentOutcome {
  if (order.status === "CANCELLED") {
    if (order.paymentId === "" && paymentId !== "") return { kind: "payment-recorded", order: { ...order, paymentId } };
    return { kind: "ignored", reason: "order is CANCELLED" };
  }
  const refundPaymentId = order.paymentId || paymentId;
  const reason = detail === "" ? STOCK_GONE_REASON : `${STOCK_GONE_REASON}: ${detail}`;
  const cancelled = transition(order, "CANCELLED", { at, reason, paymentId: refundPaymentId, cancelReason: STOCK_GONE_REASON });
  return { kind: "cancelled", order: cancelled, refundPaymentId };
}

/** CancelOutcome is what a customer's CancelOrder does. */
export type CancelOutcome = { kind: "cancelled"; order: Order; refundPaymentId: string } | { kind: "unchanged"; order: Order };

/**
 * cancelByCustomer cancels an order awaiting payment (stock is released) or a confirmed one (its payment is refunded,
 * hence `refundPaymentId`). Cancelling a cancelled order returns it unchanged, so a retried cancel is harmless.
 */
export function cancelByCustomer(order: Order, reason: string, at: Date): CancelOutcome {
  if (order.status === "CANCELLED") return { kind: "unchanged", order };
  const cancelReason = reason.trim() === "" ? "cancelled by the customer" : reason.trim();
  const refundPaymentId = order.status === "CONFIRMED" ? order.paymentId : "";
  return { kind: "cancelled", order: transition(order, "CANCELLED", { at, reason: cancelReason, cancelReason }), refundPaymentId };
}
