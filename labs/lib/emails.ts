/**
 * reconcileEmails is the verdict on a lab's customer emails (issue 12): pure checks over order's command rows, the
 * notification service's table and the messages Mailpit received, against each order's final state. Each terminal
 * order must have exactly one email of its kind (CONFIRMED: "is confirmed", CANCELLED: "was cancelled") and none of
 * the other, in the notification service's database and in the SMTP sink alike: the database can only say what the
 * service recorded, the sink says what reached a customer (a send repeated after a crash shows only there).
 */
import { check, type Check, type OrderState } from "./reconcile.js";

export type EmailKind = "CONFIRMED" | "CANCELLED";

/** EmailSnapshot is everything reconcileEmails looks at. */
export interface EmailSnapshot {
  readonly orders: readonly { orderId: string; status: OrderState }[];
  /** commands are order's outbox rows of kind `command` (id, the order it is about, its state). */
  readonly commands: readonly { commandId: string; orderId: string; state: string }[];
  /** notifications are the notification service's rows: one per command it handled. */
  readonly notifications: readonly { notificationId: string; orderId: string; kind: EmailKind }[];
  /** mailpit are the subjects of every message the lab's Mailpit received. */
  readonly mailpit: readonly { subject: string }[];
}

/** SUBJECT reads an order email's subject (services/notification composeOrderEmail). */
const SUBJECT = /^Your order (\S+) (is confirmed|was cancelled)$/;

/** parseSubject is the order and kind an email's subject names, or undefined for any other subject. */
export function parseSubject(subject: string): { orderId: string; kind: EmailKind } | undefined {
  const match = SUBJECT.exec(subject);
  if (!match) return undefined;
  return { orderId: match[1]!, kind: match[2] === "is confirmed" ? "CONFIRMED" : "CANCELLED" };
}

export function reconcileEmails(s: EmailSnapshot): Check[] {
  const unreadable = s.mailpit.filter((m) => parseSubject(m.subject) === undefined).map((m) => `an email with subject "${m.subject}"`);
  const inSink = s.mailpit.map((m) => parseSubject(m.subject)).filter((e) => e !== undefined);
  return [
    commandsHandledOnce(s),
    onePerKind(s, "notification's database", s.notifications, []),
    onePerKind(s, "Mailpit", inSink, unreadable),
  ];
}

/** commandsHandledOnce: every command left the outbox and has exactly one notification row; no row without a command. */
function commandsHandledOnce(s: EmailSnapshot): Check {
  const problems: string[] = [];
  const rows = new Map<string, number>();
  for (const n of s.notifications) rows.set(n.notificationId, (rows.get(n.notificationId) ?? 0) + 1);
  const commandIds = new Set(s.commands.map((c) => c.commandId));
  for (const c of s.commands) {
    if (c.state !== "PUBLISHED") problems.push(`command ${c.commandId} (order ${c.orderId}) is still ${c.state} in order's outbox`);
    const handled = rows.get(c.commandId) ?? 0;
    if (handled !== 1) problems.push(`command ${c.commandId} (order ${c.orderId}) has ${handled} notification row(s)`);
  }
  for (const n of s.notifications)
    if (!commandIds.has(n.notificationId))
      problems.push(`notification ${n.notificationId} (order ${n.orderId}) answers no command of order's`);
  return check(
    "every command left the outbox and was handled once",
    problems,
    `${s.commands.length} command(s), all published, each with one notification row`,
    (n) => `${n} command(s) lost, stuck or handled twice`,
  );
}

/** onePerKind: per order, exactly one email of the kind its final state calls for, none of another, none for an unknown order. */
function onePerKind(
  s: EmailSnapshot,
  where: string,
  emails: readonly { orderId: string; kind: EmailKind }[],
  unreadable: readonly string[],
): Check {
  const problems = [...unreadable.map((what) => `${where}: ${what} names no order email`)];
  const counts = new Map<string, Record<EmailKind, number>>();
  for (const e of emails) {
    const c = counts.get(e.orderId) ?? { CONFIRMED: 0, CANCELLED: 0 };
    c[e.kind]++;
    counts.set(e.orderId, c);
  }
  const known = new Set<string>();
  let terminal = 0;
  for (const { orderId, status } of s.orders) {
    known.add(orderId);
    const c = counts.get(orderId) ?? { CONFIRMED: 0, CANCELLED: 0 };
    if (status !== "AWAITING_PAYMENT") terminal++;
    for (const kind of ["CONFIRMED", "CANCELLED"] as const) {
      const expected = status === kind ? 1 : 0;
      if (c[kind] === expected) continue;
      const what = c[kind] === 0 ? "lost" : expected === 0 ? "not called for" : "doubled";
      problems.push(`${status} ${orderId}: ${c[kind]} ${kind} email(s) in ${where} (${what})`);
    }
  }
  for (const [orderId, c] of counts)
    if (!known.has(orderId))
      problems.push(`${c.CONFIRMED + c.CANCELLED} email(s) in ${where} for ${orderId}, an order order does not have`);
  return check(
    `every terminal order has exactly one email of its kind in ${where}`,
    problems,
    `${emails.length} email(s) for ${terminal} terminal order(s), one each`,
    (n) => `${n} email(s) lost, doubled or unexplained in ${where}`,
  );
}
