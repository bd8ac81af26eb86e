import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { idempotencyKeyOf, orderLinesOf, requestFingerprint, type CreateOrderCommand } from "../src/domain/order-commands.js";
import {
  canTransition,
  cancelByCustomer,
  isTerminal,
  newOrder,
  onPaymentAuthorized,
  onPaymentDeclined,
  onStockCommitFailed,
  priceLines,
  transition,
  type Order,
} from "../src/domain/order.js";

const at = new Date("2026-01-01T10:00:00Z");
const later = new Date("2026-01-01T10:05:00Z");
const eur = (amountMinor: bigint) => ({ currencyCode: "EUR", amountMinor });

function anOrder(): Order {
  return newOrder({
    orderId: "o-1",
    customerId: "c-1",
    lines: [{ productId: "p", quantity: 2, unitPrice: eur(100n), lineTotal: eur(200n) }],
    total: eur(200n),
    at,
  });
}

function aCommand(overrides: Partial<CreateOrderCommand> = {}): CreateOrderCommand {
  const lines = [
    { productId: "p-1", quantity: 1 },
    { productId: "p-2", quantity: 3 },
  ];
  return { customerId: "c-1", lines, cardToken: "tok_ok", linesField: "lines", ...overrides };
}

function rejectionOf(run: () => unknown): ConnectError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    return error as ConnectError;
  }
  throw new Error("expected a ConnectError");
}

describe("the order state machine", () => {
  it("when an order is created, then it awaits payment with one history entry", () => {
    const order = anOrder();
    expect(order.status).toBe("AWAITING_PAYMENT");
    expect(order.history).toEqual([{ status: "AWAITING_PAYMENT", at, reason: "order created" }]);
  });

  it("allows AWAITING_PAYMENT → CONFIRMED | CANCELLED and CONFIRMED → CANCELLED only", () => {
    expect(canTransition("AWAITING_PAYMENT", "CONFIRMED")).toBe(true);
    expect(canTransition("AWAITING_PAYMENT", "CANCELLED")).toBe(true);
    expect(canTransition("CONFIRMED", "CANCELLED")).toBe(true);
    expect(canTransition("CONFIRMED", "AWAITING_PAYMENT")).toBe(false);
    expect(canTransition("CANCELLED", "CONFIRMED")).toBe(false);
    expect(canTransition("CANCELLED", "AWAITING_PAYMENT")).toBe(false);
  });

  it("when a transition is illegal, then it fails with FAILED_PRECONDITION", () => {
    const cancelled = transition(anOrder(), "CANCELLED", { at: later, reason: "x" });
    const error = rejectionOf(() => transition(cancelled, "CONFIRMED", { at: later, reason: "y" }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("CANCELLED");
  });

  it("treats CONFIRMED and CANCELLED as where a watcher stops", () => {
    expect(isTerminal("AWAITING_PAYMENT")).toBe(false);
    expect(isTerminal("CONFIRMED")).toBe(true);
    expect(isTerminal("CANCELLED")).toBe(true);
  });

  it("when a payment is authorized, then the order is confirmed with the payment id", () => {
    const outcome = onPaymentAuthorized(anOrder(), "pay-1", later);
    expect(outcome.kind).toBe("confirmed");
    if (outcome.kind !== "confirmed") return;
    expect(outcome.order.status).toBe("CONFIRMED");
    expect(outcome.order.paymentId).toBe("pay-1");
    expect(outcome.order.updateTime).toEqual(later);
    expect(outcome.order.history.map((h) => h.status)).toEqual(["AWAITING_PAYMENT", "CONFIRMED"]);
  });

  it("when a payment is authorized for a cancelled order, then only the payment id is recorded", () => {
    const cancelled = cancelByCustomer(anOrder(), "", later).order;
    const outcome = onPaymentAuthorized(cancelled, "pay-1", later);
    expect(outcome.kind).toBe("payment-recorded");
    if (outcome.kind !== "payment-recorded") return;
    expect(outcome.order.status).toBe("CANCELLED");
    expect(outcome.order.paymentId).toBe("pay-1");
    expect(outcome.order.history).toHaveLength(2);
  });

  it("when a payment is declined, then the order is cancelled with the reason", () => {
    const outcome = onPaymentDeclined(anOrder(), "card declined", later);
    expect(outcome.kind).toBe("cancelled");
    if (outcome.kind !== "cancelled") return;
    expect(outcome.order.cancelReason).toBe("payment declined: card declined");
    expect(onPaymentDeclined(outcome.order, "again", later).kind).toBe("ignored");
  });

  it("when the stock commit fails before the order heard of its payment, then it is cancelled with the payment recorded and to be refunded", () => {
    const outcome = onStockCommitFailed(anOrder(), "pay-7", "insufficient stock: product p", later);
    expect(outcome).toMatchObject({ kind: "cancelled", refundPaymentId: "pay-7" });
    if (outcome.kind !== "cancelled") return;
    expect(outcome.order).toMatchObject({ status: "CANCELLED", paymentId: "pay-7", cancelReason: "stock no longer available" });
    expect(outcome.order.history.at(-1)?.reason).toBe("stock no longer available: insufficient stock: product p");
    // The PaymentAuthorized that follows changes nothing: the order stays cancelled.
    expect(onPaymentAuthorized(outcome.order, "pay-7", later).kind).toBe("ignored");
  });

  it("when the stock commit fails for a CONFIRMED order, then it moves to CANCELLED and its payment is to be refunded", () => {
    const confirmed = transition(anOrder(), "CONFIRMED", { at: later, reason: "paid", paymentId: "pay-8" });
    const outcome = onStockCommitFailed(confirmed, "pay-8", "", later);
    expect(outcome).toMatchObject({ kind: "cancelled", refundPaymentId: "pay-8" });
    if (outcome.kind !== "cancelled") return;
    expect(outcome.order.history.map((h) => h.status)).toEqual(["AWAITING_PAYMENT", "CONFIRMED", "CANCELLED"]);
    expect(outcome.order.cancelReason).toBe("stock no longer available");
  });

  it("when the stock commit fails for an order already cancelled, then only an unknown payment id is recorded", () => {
    const cancelled = cancelByCustomer(anOrder(), "", later).order;
    const recorded = onStockCommitFailed(cancelled, "pay-9", "short", later);
    expect(recorded).toMatchObject({ kind: "payment-recorded", order: { status: "CANCELLED", paymentId: "pay-9" } });
    if (recorded.kind !== "payment-recorded") return;
    expect(onStockCommitFailed(recorded.order, "pay-9", "short", later).kind).toBe("ignored");
  });

  it("when a customer cancels before payment, nothing is refunded; after payment, the payment is", () => {
    const before = cancelByCustomer(anOrder(), "changed my mind", later);
    expect(before).toMatchObject({ kind: "cancelled", refundPaymentId: "" });
    const confirmed = transition(anOrder(), "CONFIRMED", { at: later, reason: "paid", paymentId: "pay-9" });
    const after = cancelByCustomer(confirmed, "", later);
    expect(after).toMatchObject({ kind: "cancelled", refundPaymentId: "pay-9" });
    expect(after.order.cancelReason).toBe("cancelled by the customer");
    expect(cancelByCustomer(after.order, "again", later)).toMatchObject({ kind: "unchanged" });
  });
});

describe("the order request rules", () => {
  it("when lines break a rule, then the error names the line under the field the caller's version gave", () => {
    const error = rejectionOf(() =>
      orderLinesOf("items", [
        { productId: "p-1", quantity: 1 },
        { productId: " p-1 ", quantity: 2 },
      ]),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe('items[1].product_id: "p-1" is already ordered in items[0]; order each product once');
  });

  it("when lines are valid, then their product ids come back trimmed", () => {
    expect(orderLinesOf("lines", [{ productId: " p-1 ", quantity: 1000 }])).toEqual([{ productId: "p-1", quantity: 1000 }]);
  });

  it("rejects an idempotency key longer than 200 characters and ignores an empty one", () => {
    expect(rejectionOf(() => idempotencyKeyOf("k".repeat(201))).rawMessage).toMatch(/^idempotency-key:/);
    expect(idempotencyKeyOf("")).toBeUndefined();
    expect(idempotencyKeyOf("k-1")).toBe("k-1");
  });
});

describe("the request fingerprint", () => {
  const base = aCommand();

  it("does not depend on the order of the lines, nor on the API version that spelled them", () => {
    expect(requestFingerprint(aCommand({ lines: [...base.lines].reverse() }))).toBe(requestFingerprint(base));
    expect(requestFingerprint(aCommand({ linesField: "items" }))).toBe(requestFingerprint(base));
  });

  it.each([
    ["customer", { customerId: "c-2" }],
    [
      "quantity",
      {
        lines: [
          { productId: "p-1", quantity: 2 },
          { productId: "p-2", quantity: 3 },
        ],
      },
    ],
    ["card", { cardToken: "tok_other" }],
  ])("changes when the %s changes", (_, overrides) => {
    expect(requestFingerprint(aCommand(overrides))).not.toBe(requestFingerprint(base));
  });
});

describe("pricing", () => {
  it("totals the lines in minor units", () => {
    const prices = new Map([
      ["p-1", eur(250n)],
      ["p-2", eur(199n)],
    ]);
    const { lines, total } = priceLines(aCommand().lines, prices, "lines");
    expect(lines[1]?.lineTotal).toEqual(eur(597n));
    expect(total).toEqual(eur(847n));
  });

  it("when products are priced in two currencies, then FAILED_PRECONDITION naming the caller's lines field", () => {
    const prices = new Map([
      ["p-1", eur(250n)],
      ["p-2", { currencyCode: "USD", amountMinor: 199n }],
    ]);
    const error = rejectionOf(() => priceLines(aCommand().lines, prices, "items"));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe("items: products are priced in EUR and USD; an order has one currency");
  });
});
