import { failedPrecondition, invalidArgument, notFound } from "#shared/errors.js";
import type { Money } from "#shared/money.js";

/** ReservationStatus is where a reservation stands; REJECTED ones are answered but never stored. */
export type ReservationStatus = "HELD" | "COMMITTED" | "RELEASED" | "REJECTED";

/** ReservationLine is one product of a reservation with the unit price it was reserved at. */
export interface ReservationLine {
  readonly productId: string;
  readonly quantity: number;
  readonly unitPrice: Money;
}

/** Reservation is stock set aside for one order. */
export interface Reservation {
  readonly reservationId: string;
  readonly orderId: string;
  readonly lines: readonly ReservationLine[];
  readonly status: ReservationStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** reason says why it was released or rejected. */
  readonly reason: string;
}

/** ReserveRequest is one reservation request as received (unit prices are the server's business). */
export interface ReserveRequest {
  readonly reservationId: string;
  readonly orderId: string;
  readonly lines: readonly { readonly productId: string; readonly quantity: number }[];
}

/** StockOnHand is what the reservation rule needs to know about one product. */
export interface StockOnHand {
  readonly productId: string;
  readonly available: number;
  readonly price: Money;
}

/** MAX_LINE_QUANTITY bounds one line: a typo (10000 instead of 10) should not empty the shelf. */
const MAX_LINE_QUANTITY = 1000;

/**
 * validateReserveRequest checks a request's shape and throws INVALID_ARGUMENT naming the first offending field,
 * e.g. `lines[1].quantity: must be between 1 and 1000`.
 */
export function validateReserveRequest(request: ReserveRequest): void {
  if (request.reservationId.trim() === "") throw invalidArgument("reservation_id", "is required");
  if (request.orderId.trim() === "") throw invalidArgument("order_id", "is required");
  if (request.lines.length === 0) throw invalidArgument("lines", "must contain at least one line");
  const seen = new Map<string, number>();
  request.lines.forEach((line, i) => {
    if (line.productId.trim() === "") throw invalidArgument(`lines[${i}].product_id`, "is required");
    if (!Number.isInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_LINE_QUANTITY) {
      throw invalidArgument(`lines[${i}].quantity`, `must be between 1 and ${MAX_LINE_QUANTITY}`);
    }
    const first = seen.get(line.productId);
    if (first !== undefined) {
      throw invalidArgument(`lines[${i}].product_id`, `"${line.productId}" repeats lines[${first}]; merge the quantities`);
    }
    seen.set(line.productId, i);
  });
}

/**
 * sameRequest tells whether a resent request asks for what the stored reservation holds: same order, same
 * products and quantities (line order does not matter). A resend after a broken stream must match exactly.
 */
export function sameRequest(existing: Reservation, request: ReserveRequest): boolean {
  if (existing.orderId !== request.orderId || existing.lines.length !== request.lines.length) return false;
  const held = new Map(existing.lines.map((line) => [line.productId, line.quantity]));
  return request.lines.every((line) => held.get(line.productId) === line.quantity);
}

/** ReservationPlan is the all-or-nothing outcome of a request against the current stock. */
export type ReservationPlan =
  | { readonly kind: "held"; readonly lines: ReservationLine[] }
  | { readonly kind: "rejected"; readonly lines: ReservationLine[]; readonly message: string };

/**
 * planReservation decides a validated request all or nothing: every line must fit the product's available stock,
 * otherwise nothing is reserved and the message names the first product that is short. An unknown product is
 * NOT_FOUND naming the line.
 */
export function planReservation(request: ReserveRequest, stockOf: (productId: string) => StockOnHand | undefined): ReservationPlan {
  const lines: ReservationLine[] = [];
  const short: string[] = [];
  request.lines.forEach((line, i) => {
    const stock = stockOf(line.productId);
    if (stock === undefined) {
      throw notFound(`lines[${i}].product_id: product "${line.productId}"`);
    }
    lines.push({ productId: line.productId, quantity: line.quantity, unitPrice: stock.price });
    if (stock.available < line.quantity) {
      short.push(`product "${line.productId}" has ${stock.available} available, ${line.quantity} requested`);
    }
  });
  if (short.length > 0) return { kind: "rejected", lines, message: `insufficient stock: ${short.join("; ")}` };
  return { kind: "held", lines };
}

/**
 * commitDecision is the rule for PaymentAuthorized. A HELD reservation becomes a sale. A RELEASED one whose order is
 * still open (it expired, or was released by request, before the payment arrived) is reserved again and committed if
 * the stock is there ("re-reserve"), because the customer has paid. A COMMITTED one, or a RELEASED one whose order
 * was closed (cancelled, declined, or its commit already failed), is left alone.
 */
export function commitDecision(current: ReservationStatus, orderClosed: boolean): "commit" | "re-reserve" | "skip" {
  if (current === "HELD") return "commit";
  if (current === "RELEASED" && !orderClosed) return "re-reserve";
  return "skip";
}

/**
 * releaseDecision is ReleaseReservation's rule: HELD → release, RELEASED → no-op, COMMITTED → FAILED_PRECONDITION
 * (a sale is undone by cancelling the order, which restocks, not by releasing).
 */
export function releaseDecision(reservationId: string, current: ReservationStatus): "release" | "noop" {
  if (current === "HELD") return "release";
  if (current === "COMMITTED") {
    throw failedPrecondition(`reservation "${reservationId}" is committed; cancel the order to put its stock back`);
  }
  return "noop";
}

/**
 * cancelDecision is the rule for OrderCancelled: a HELD reservation is released, a COMMITTED one is restocked
 * (the goods come back to the shelf), a RELEASED one is already done.
 */
export function cancelDecision(current: ReservationStatus): "release" | "restock" | "skip" {
  if (current === "HELD") return "release";
  if (current === "COMMITTED") return "restock";
  return "skip";
}

/** isExpired tells whether a HELD reservation outlived its time to live. */
export function isExpired(reservation: Pick<Reservation, "status" | "createdAt">, now: Date, ttlMs: number): boolean {
  return reservation.status === "HELD" && now.getTime() - reservation.createdAt.getTime() >= ttlMs;
}
