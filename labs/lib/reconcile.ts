/**
 * reconcile is the verdict of a fault lab: pure checks over what the services' databases and the Kafka topics hold
 * after the run (labs/lib/snapshot.ts reads them), against what the lab's client was told and what it put in. It
 * knows nothing of the fault that was injected, so every lab is judged by the same rules (docs: README "Break it").
 */

/** EventTypes are the `ce_type`s the checks count. */
export const EventTypes = {
  paymentAuthorized: "shop.payment.v1.PaymentAuthorized",
  stockCommitted: "shop.inventory.v1.StockCommitted",
} as const;

export type OrderState = "AWAITING_PAYMENT" | "CONFIRMED" | "CANCELLED";

/** LabSnapshot is everything reconcile looks at; see the file comment. */
export interface LabSnapshot {
  /** acceptedOrderIds are the orders CreateOrder answered with, as the load client recorded them. */
  readonly acceptedOrderIds: readonly string[];
  /** pendingAfterSettle are the orders still not terminal when the settle window (60 s after the faults) ran out. */
  readonly pendingAfterSettle: readonly string[];
  readonly orders: readonly { orderId: string; status: OrderState }[];
  readonly payments: readonly { paymentId: string; orderId: string; status: "AUTHORIZED" | "DECLINED" | "REFUNDED" }[];
  readonly reservations: readonly {
    reservationId: string;
    orderId: string;
    status: "HELD" | "COMMITTED" | "RELEASED";
    lines: readonly { productId: string; quantity: number }[];
  }[];
  readonly products: readonly { productId: string; available: number; reserved: number }[];
  /** ledger is the stock each product should account for: seeded plus imported. */
  readonly ledger: Readonly<Record<string, number>>;
  /** outbox holds every service's outbox rows. */
  readonly outbox: readonly { service: string; eventId: string; topic: string; type: string; subject: string; state: string }[];
  /** kafka is every message on the event topics (not the DLQs): topic and `ce_id`. */
  readonly kafka: readonly { topic: string; id: string }[];
  readonly deadLetters: readonly DeadLetterRecord[];
}

/** DeadLetterRecord is one message on a DLQ topic. */
export interface DeadLetterRecord {
  readonly topic: string;
  readonly id: string;
  readonly type: string;
  readonly key: string;
  readonly consumer: string;
  readonly error: string;
}

/** Explainer names why a dead letter is expected (e.g. "injected poison: garbage bytes"), or undefined. */
export type Explainer = (letter: DeadLetterRecord) => string | undefined;

/** Check is one reconciliation rule's outcome, with the offending items (the first few). */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly summary: string;
  readonly problems: readonly string[];
}

/** Verdict is the lab's result: it passes only when every check does. */
export interface Verdict {
  readonly ok: boolean;
  readonly checks: readonly Check[];
}

/** MAX_PROBLEMS bounds the problems listed per check; the count in the summary is complete. */
const MAX_PROBLEMS = 20;

/** reconcile judges a snapshot; `explain` says which dead letters the lab expects. */
export function reconcile(snapshot: LabSnapshot, explain: Explainer = () => undefined): Verdict {
  const checks = [
    acceptedOrdersExist(snapshot),
    ordersTerminal(snapshot),
    confirmedPaidAndCommittedOnce(snapshot),
    cancelledReleasedAndRefunded(snapshot),
    moneyOnlyForConfirmedOrders(snapshot),
    noStockLeftHeld(snapshot),
    stockConserved(snapshot),
    outboxDrained(snapshot),
    outboxOnKafka(snapshot),
    deadLettersExplained(snapshot, explain),
  ];
  return { ok: checks.every((check) => check.ok), checks };
}

export function check(name: string, problems: string[], okSummary: string, badSummary: (n: number) => string): Check {
  return {
    name,
    ok: problems.length === 0,
    summary: problems.length === 0 ? okSummary : badSummary(problems.length),
    problems: problems.slice(0, MAX_PROBLEMS),
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function acceptedOrdersExist(s: LabSnapshot): Check {
  const stored = new Set(s.orders.map((o) => o.orderId));
  const lost = [...new Set(s.acceptedOrderIds)].filter((id) => !stored.has(id)).map((id) => `accepted order ${id} is not stored`);
  return check(
    "every accepted CreateOrder exists",
    lost,
    `${new Set(s.acceptedOrderIds).size} accepted, all stored`,
    (n) => `${n} accepted order(s) lost`,
  );
}

function ordersTerminal(s: LabSnapshot): Check {
  const pending = new Set([...s.pendingAfterSettle, ...s.orders.filter((o) => o.status === "AWAITING_PAYMENT").map((o) => o.orderId)]);
  return check(
    "every order terminal within 60 s after the faults stop",
    [...pending].map((id) => `order ${id} is still AWAITING_PAYMENT`),
    `${s.orders.length} order(s), all CONFIRMED or CANCELLED`,
    (n) => `${n} order(s) not terminal`,
  );
}

/** Per order: its payments, committed stock events and reservations. */
function perOrder(s: LabSnapshot) {
  const payments = groupBy(s.payments, (p) => p.orderId);
  const authorizedEvents = groupBy(
    s.outbox.filter((row) => row.type === EventTypes.paymentAuthorized),
    (row) => row.subject,
  );
  const commitEvents = groupBy(
    s.outbox.filter((row) => row.type === EventTypes.stockCommitted),
    (row) => row.subject,
  );
  const reservations = groupBy(s.reservations, (r) => r.orderId);
  return (orderId: string) => ({
    payments: payments.get(orderId) ?? [],
    authorizedEvents: authorizedEvents.get(orderId)?.length ?? 0,
    commitEvents: commitEvents.get(orderId)?.length ?? 0,
    reservations: reservations.get(orderId) ?? [],
  });
}

function confirmedPaidAndCommittedOnce(s: LabSnapshot): Check {
  const of = perOrder(s);
  const problems: string[] = [];
  const confirmed = s.orders.filter((o) => o.status === "CONFIRMED");
  for (const { orderId } of confirmed) {
    const o = of(orderId);
    const authorized = o.payments.filter((p) => p.status === "AUTHORIZED").length;
    const committed = o.reservations.filter((r) => r.status === "COMMITTED").length;
    if (authorized !== 1 || o.authorizedEvents !== 1) {
      problems.push(`CONFIRMED ${orderId}: ${authorized} authorized payment(s), ${o.authorizedEvents} PaymentAuthorized event(s)`);
    }
    if (committed !== 1 || o.commitEvents !== 1) {
      problems.push(`CONFIRMED ${orderId}: ${committed} committed reservation(s), ${o.commitEvents} StockCommitted event(s)`);
    }
  }
  return check(
    "CONFIRMED ⇒ exactly one authorized payment and one stock commit",
    problems,
    `${confirmed.length} confirmed order(s), each paid once and committed once`,
    (n) => `${n} problem(s) with confirmed orders`,
  );
}

function cancelledReleasedAndRefunded(s: LabSnapshot): Check {
  const of = perOrder(s);
  const problems: string[] = [];
  const cancelled = s.orders.filter((o) => o.status === "CANCELLED");
  for (const { orderId } of cancelled) {
    const o = of(orderId);
    const kept = o.reservations.filter((r) => r.status !== "RELEASED");
    if (kept.length > 0)
      problems.push(`CANCELLED ${orderId}: reservation(s) ${kept.map((r) => `${r.reservationId}=${r.status}`).join(", ")}`);
    const charged = o.payments.filter((p) => p.status === "AUTHORIZED");
    if (charged.length > 0)
      problems.push(`CANCELLED ${orderId}: payment(s) ${charged.map((p) => p.paymentId).join(", ")} still AUTHORIZED`);
  }
  return check(
    "CANCELLED ⇒ stock released and any payment refunded",
    problems,
    `${cancelled.length} cancelled order(s), all released and refunded`,
    (n) => `${n} problem(s) with cancelled orders`,
  );
}

function moneyOnlyForConfirmedOrders(s: LabSnapshot): Check {
  const status = new Map(s.orders.map((o) => [o.orderId, o.status]));
  const problems = s.payments
    .filter((p) => p.status === "AUTHORIZED" && status.get(p.orderId) !== "CONFIRMED")
    .map((p) => `payment ${p.paymentId} AUTHORIZED for order ${p.orderId}, which is ${status.get(p.orderId) ?? "not stored"}`);
  return check(
    "money is held only for confirmed orders",
    problems,
    `${s.payments.length} payment(s), every authorized one for a confirmed order`,
    (n) => `${n} authorized payment(s) without a confirmed order`,
  );
}

function noStockLeftHeld(s: LabSnapshot): Check {
  const problems = s.reservations
    .filter((r) => r.status === "HELD")
    .map((r) => `reservation ${r.reservationId} (order ${r.orderId}) still HELD`);
  return check(
    "no stock left HELD once every order is terminal",
    problems,
    `${s.reservations.length} reservation(s), none HELD`,
    (n) => `${n} reservation(s) still holding stock`,
  );
}

function stockConserved(s: LabSnapshot): Check {
  const committed = new Map<string, number>();
  const held = new Map<string, number>();
  for (const r of s.reservations) {
    const into = r.status === "COMMITTED" ? committed : r.status === "HELD" ? held : undefined;
    for (const line of r.lines) into?.set(line.productId, (into.get(line.productId) ?? 0) + line.quantity);
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of s.products) {
    seen.add(p.productId);
    const sold = committed.get(p.productId) ?? 0;
    const expected = s.ledger[p.productId];
    const total = p.available + p.reserved + sold;
    if (expected === undefined) problems.push(`${p.productId}: not in the ledger (seeded + imported)`);
    else if (total !== expected) {
      problems.push(`${p.productId}: available ${p.available} + held ${p.reserved} + committed ${sold} = ${total}, ledger ${expected}`);
    }
    const heldLines = held.get(p.productId) ?? 0;
    if (heldLines !== p.reserved) problems.push(`${p.productId}: reserved column ${p.reserved}, HELD reservation lines ${heldLines}`);
  }
  for (const productId of Object.keys(s.ledger)) if (!seen.has(productId)) problems.push(`${productId}: in the ledger, not stored`);
  return check(
    "stock conserved per product (available + held + committed = seeded + imported)",
    problems,
    `${s.products.length} product(s) balance`,
    (n) => `${n} stock imbalance(s)`,
  );
}

function outboxDrained(s: LabSnapshot): Check {
  const problems = s.outbox
    .filter((row) => row.state !== "PUBLISHED")
    .map((row) => `${row.service} outbox ${row.eventId} (${row.type}) is ${row.state}`);
  return check(
    "every outbox drained",
    problems,
    `${s.outbox.length} outbox row(s), all PUBLISHED`,
    (n) => `${n} outbox row(s) not published`,
  );
}

function outboxOnKafka(s: LabSnapshot): Check {
  const onKafka = new Set(s.kafka.map((m) => `${m.topic}\u0000${m.id}`));
  const problems = s.outbox
    .filter((row) => !onKafka.has(`${row.topic}\u0000${row.eventId}`))
    .map((row) => `${row.service} outbox ${row.eventId} (${row.type}) is not on ${row.topic}`);
  return check(
    "every outbox row is on Kafka",
    problems,
    `${s.outbox.length} outbox row(s) found among ${s.kafka.length} Kafka message(s)`,
    (n) => `${n} outbox row(s) missing from Kafka`,
  );
}

function deadLettersExplained(s: LabSnapshot, explain: Explainer): Check {
  const problems: string[] = [];
  const reasons = new Map<string, number>();
  for (const letter of s.deadLetters) {
    const reason = explain(letter);
    if (reason === undefined) {
      problems.push(
        `${letter.topic}: ${letter.id || "(no ce_id)"} ${letter.type || "(no ce_type)"} by ${letter.consumer}: ${letter.error}`,
      );
    } else reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  const explained = [...reasons].map(([reason, n]) => `${n}× ${reason}`).join("; ");
  return check(
    "every DLQ record explained",
    problems,
    s.deadLetters.length === 0 ? "no dead letters" : `${s.deadLetters.length} dead letter(s): ${explained}`,
    (n) => `${n} unexplained dead letter(s)`,
  );
}
