/**
 * Unit tests of the labs' reconciliation: it passes a consistent run and fails each kind of damage a fault can do,
 * naming the order, payment or product involved. A checker that cannot fail would make every lab green.
 */
import { describe, expect, it } from "vitest";
import { EventTypes, reconcile, type LabSnapshot } from "../lib/reconcile.js";

const ORDER_TOPIC = "shop.order.v1.events";
const PAYMENT_TOPIC = "shop.payment.v1.events";
const INVENTORY_TOPIC = "shop.inventory.v1.events";

/** consistentRun is a run in which o1 was confirmed (2 units of sku-a) and o2 declined and cancelled (1 unit). */
function consistentRun(): LabSnapshot {
  const outbox = [
    { service: "order", eventId: "e1", topic: ORDER_TOPIC, type: "shop.order.v1.OrderCreated", subject: "o1", state: "PUBLISHED" },
    { service: "order", eventId: "e2", topic: ORDER_TOPIC, type: "shop.order.v1.OrderCreated", subject: "o2", state: "PUBLISHED" },
    { service: "payment", eventId: "e3", topic: PAYMENT_TOPIC, type: EventTypes.paymentAuthorized, subject: "o1", state: "PUBLISHED" },
    { service: "payment", eventId: "e4", topic: PAYMENT_TOPIC, type: "shop.payment.v1.PaymentDeclined", subject: "o2", state: "PUBLISHED" },
    { service: "inventory", eventId: "e5", topic: INVENTORY_TOPIC, type: EventTypes.stockCommitted, subject: "o1", state: "PUBLISHED" },
    {
      service: "inventory",
      eventId: "e6",
      topic: INVENTORY_TOPIC,
      type: "shop.inventory.v1.StockReleased",
      subject: "o2",
      state: "PUBLISHED",
    },
  ];
  return {
    acceptedOrderIds: ["o1", "o2"],
    pendingAfterSettle: [],
    orders: [
      { orderId: "o1", status: "CONFIRMED" },
      { orderId: "o2", status: "CANCELLED" },
    ],
    payments: [
      { paymentId: "p1", orderId: "o1", status: "AUTHORIZED" },
      { paymentId: "p2", orderId: "o2", status: "DECLINED" },
    ],
    reservations: [
      { reservationId: "o1", orderId: "o1", status: "COMMITTED", lines: [{ productId: "sku-a", quantity: 2 }] },
      { reservationId: "o2", orderId: "o2", status: "RELEASED", lines: [{ productId: "sku-a", quantity: 1 }] },
    ],
    products: [{ productId: "sku-a", available: 8, reserved: 0 }],
    ledger: { "sku-a": 10 },
    outbox,
    kafka: outbox.map((row) => ({ topic: row.topic, id: row.eventId })),
    deadLetters: [],
  };
}

function failedChecks(snapshot: LabSnapshot, explain?: Parameters<typeof reconcile>[1]) {
  return reconcile(snapshot, explain).checks.filter((c) => !c.ok);
}

describe("reconcile", () => {
  it("when every order is terminal, paid once, committed once and the stock balances, then it passes", () => {
    const verdict = reconcile(consistentRun());
    expect(verdict.checks.filter((c) => !c.ok)).toEqual([]);
    expect(verdict.ok).toBe(true);
  });

  it("when a confirmed order was paid twice, then it fails naming the order", () => {
    const run = consistentRun();
    const doubled: LabSnapshot = {
      ...run,
      payments: [...run.payments, { paymentId: "p1-again", orderId: "o1", status: "AUTHORIZED" }],
      outbox: [...run.outbox, { ...run.outbox[2]!, eventId: "e3-again" }],
      kafka: [...run.kafka, { topic: PAYMENT_TOPIC, id: "e3-again" }],
    };
    const failed = failedChecks(doubled);
    expect(failed.map((c) => c.name)).toEqual(["CONFIRMED ⇒ exactly one authorized payment and one stock commit"]);
    expect(failed[0]!.problems).toEqual(["CONFIRMED o1: 2 authorized payment(s), 2 PaymentAuthorized event(s)"]);
  });

  it("when an accepted order is not stored, then it fails naming the order", () => {
    const run = consistentRun();
    const failed = failedChecks({ ...run, acceptedOrderIds: [...run.acceptedOrderIds, "o-lost"] });
    expect(failed.map((c) => c.name)).toEqual(["every accepted CreateOrder exists"]);
    expect(failed[0]!.problems).toEqual(["accepted order o-lost is not stored"]);
  });

  it("when stock went missing, then it fails naming the product and its balance", () => {
    const run = consistentRun();
    const failed = failedChecks({ ...run, products: [{ productId: "sku-a", available: 7, reserved: 0 }] });
    expect(failed.map((c) => c.name)).toEqual(["stock conserved per product (available + held + committed = seeded + imported)"]);
    expect(failed[0]!.problems).toEqual(["sku-a: available 7 + held 0 + committed 2 = 9, ledger 10"]);
  });

  it("when a confirmed order's reservation had expired (no commit), then it fails as unpaid-for stock", () => {
    const run = consistentRun();
    const expired: LabSnapshot = {
      ...run,
      reservations: [{ ...run.reservations[0]!, status: "RELEASED" }, run.reservations[1]!],
      products: [{ productId: "sku-a", available: 10, reserved: 0 }],
      outbox: run.outbox.filter((row) => row.eventId !== "e5"),
    };
    const failed = failedChecks(expired);
    expect(failed.map((c) => c.name)).toEqual(["CONFIRMED ⇒ exactly one authorized payment and one stock commit"]);
    expect(failed[0]!.problems).toEqual(["CONFIRMED o1: 0 committed reservation(s), 0 StockCommitted event(s)"]);
  });

  it("when a cancelled order's payment is still authorized, then it fails on the refund and on the money held", () => {
    const run = consistentRun();
    const failed = failedChecks({ ...run, payments: [run.payments[0]!, { paymentId: "p2", orderId: "o2", status: "AUTHORIZED" }] });
    expect(failed.map((c) => c.name)).toEqual([
      "CANCELLED ⇒ stock released and any payment refunded",
      "money is held only for confirmed orders",
    ]);
  });

  it("when an order is left awaiting payment and its stock held, then it fails on both", () => {
    const run = consistentRun();
    const failed = failedChecks({
      ...run,
      pendingAfterSettle: ["o2"],
      orders: [run.orders[0]!, { orderId: "o2", status: "AWAITING_PAYMENT" }],
      reservations: [run.reservations[0]!, { ...run.reservations[1]!, status: "HELD" }],
      products: [{ productId: "sku-a", available: 7, reserved: 1 }],
    });
    expect(failed.map((c) => c.name)).toEqual([
      "every order terminal within 60 s after the faults stop",
      "no stock left HELD once every order is terminal",
    ]);
  });

  it("when an outbox row is unpublished and missing from Kafka, then both outbox checks fail", () => {
    const run = consistentRun();
    const failed = failedChecks({
      ...run,
      outbox: run.outbox.map((row) => (row.eventId === "e6" ? { ...row, state: "FAILED" } : row)),
      kafka: run.kafka.filter((m) => m.id !== "e6"),
    });
    expect(failed.map((c) => c.name)).toEqual(["every outbox drained", "every outbox row is on Kafka"]);
  });

  it("when a dead letter is not one the lab injected, then it fails; an injected one passes", () => {
    const run = consistentRun();
    const letter = {
      topic: `${ORDER_TOPIC}.dlq`,
      id: "x1",
      type: "shop.order.v1.OrderCreated",
      key: "o9",
      consumer: "payment",
      error: "boom",
    };
    const withLetter = { ...run, deadLetters: [letter] };
    expect(failedChecks(withLetter).map((c) => c.name)).toEqual(["every DLQ record explained"]);
    expect(failedChecks(withLetter, (l) => (l.id === "x1" ? "injected poison" : undefined))).toEqual([]);
  });
});
