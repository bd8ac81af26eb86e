/**
 * Unit tests of the rabbit-down lab's email reconciliation (labs/lib/emails.ts): it passes a consistent run and fails
 * when an email is lost, doubled (in the notification service's database or only in the SMTP sink), of the wrong kind,
 * or when a command is stuck in the outbox, naming the order or command. A checker that cannot fail would make the lab
 * green whatever the bus did.
 */
import { describe, expect, it } from "vitest";
import { type EmailSnapshot, parseSubject, reconcileEmails } from "../lib/emails.js";

/** consistentRun: o1 confirmed, o2 cancelled, o3 still awaiting payment (no email yet), each command handled once. */
function consistentRun(): EmailSnapshot {
  return {
    orders: [
      { orderId: "o1", status: "CONFIRMED" },
      { orderId: "o2", status: "CANCELLED" },
      { orderId: "o3", status: "AWAITING_PAYMENT" },
    ],
    commands: [
      { commandId: "c1", orderId: "o1", state: "PUBLISHED" },
      { commandId: "c2", orderId: "o2", state: "PUBLISHED" },
    ],
    notifications: [
      { notificationId: "c1", orderId: "o1", kind: "CONFIRMED" },
      { notificationId: "c2", orderId: "o2", kind: "CANCELLED" },
    ],
    mailpit: [{ subject: "Your order o1 is confirmed" }, { subject: "Your order o2 was cancelled" }],
  };
}

const failed = (s: EmailSnapshot) => reconcileEmails(s).filter((c) => !c.ok);

describe("reconcileEmails", () => {
  it("when every terminal order has its one email everywhere, then every check passes", () => {
    const checks = reconcileEmails(consistentRun());
    expect(checks.map((c) => c.ok)).toEqual([true, true, true]);
    expect(checks[2]!.summary).toBe("2 email(s) for 2 terminal order(s), one each");
  });

  it("reads the notification service's subjects", () => {
    expect(parseSubject("Your order 6f1c is confirmed")).toEqual({ orderId: "6f1c", kind: "CONFIRMED" });
    expect(parseSubject("Your order 6f1c was cancelled")).toEqual({ orderId: "6f1c", kind: "CANCELLED" });
    expect(parseSubject("hello")).toBeUndefined();
  });

  it("when a confirmed order's command never reached the notification service, then it fails as lost everywhere", () => {
    const run = consistentRun();
    const lost = { ...run, notifications: run.notifications.slice(1), mailpit: run.mailpit.slice(1) };
    const checks = failed(lost);
    expect(checks.map((c) => c.name)).toEqual([
      "every command left the outbox and was handled once",
      "every terminal order has exactly one email of its kind in notification's database",
      "every terminal order has exactly one email of its kind in Mailpit",
    ]);
    expect(checks[0]!.problems).toEqual(["command c1 (order o1) has 0 notification row(s)"]);
    expect(checks[1]!.problems).toEqual(["CONFIRMED o1: 0 CONFIRMED email(s) in notification's database (lost)"]);
    expect(checks[2]!.problems).toEqual(["CONFIRMED o1: 0 CONFIRMED email(s) in Mailpit (lost)"]);
  });

  it("when the SMTP sink got an email twice that the database recorded once, then only the Mailpit check fails", () => {
    const run = consistentRun();
    const checks = failed({ ...run, mailpit: [...run.mailpit, { subject: "Your order o2 was cancelled" }] });
    expect(checks.map((c) => c.name)).toEqual(["every terminal order has exactly one email of its kind in Mailpit"]);
    expect(checks[0]!.problems).toEqual(["CANCELLED o2: 2 CANCELLED email(s) in Mailpit (doubled)"]);
  });

  it("when order sent a second command for the same decision and both were emailed, then it fails as doubled", () => {
    const run = consistentRun();
    const doubled: EmailSnapshot = {
      ...run,
      commands: [...run.commands, { commandId: "c1-again", orderId: "o1", state: "PUBLISHED" }],
      notifications: [...run.notifications, { notificationId: "c1-again", orderId: "o1", kind: "CONFIRMED" }],
      mailpit: [...run.mailpit, { subject: "Your order o1 is confirmed" }],
    };
    const checks = failed(doubled);
    expect(checks.map((c) => c.name)).toEqual([
      "every terminal order has exactly one email of its kind in notification's database",
      "every terminal order has exactly one email of its kind in Mailpit",
    ]);
    expect(checks[0]!.problems).toEqual(["CONFIRMED o1: 2 CONFIRMED email(s) in notification's database (doubled)"]);
  });

  it("when a confirmed order got the cancellation email too, or an unknown order got one, then it names them", () => {
    const run = consistentRun();
    const checks = failed({
      ...run,
      mailpit: [...run.mailpit, { subject: "Your order o1 was cancelled" }, { subject: "Your order o9 is confirmed" }, { subject: "spam" }],
    });
    expect(checks.map((c) => c.name)).toEqual(["every terminal order has exactly one email of its kind in Mailpit"]);
    expect(checks[0]!.problems).toEqual([
      'Mailpit: an email with subject "spam" names no order email',
      "CONFIRMED o1: 1 CANCELLED email(s) in Mailpit (not called for)",
      "1 email(s) in Mailpit for o9, an order order does not have",
    ]);
  });

  it("when a command is still in order's outbox, then it fails naming the command", () => {
    const run = consistentRun();
    const stuck: EmailSnapshot = {
      ...run,
      orders: [...run.orders, { orderId: "o4", status: "CONFIRMED" }],
      commands: [...run.commands, { commandId: "c4", orderId: "o4", state: "FAILED" }],
    };
    const checks = failed(stuck);
    expect(checks[0]!.problems).toEqual([
      "command c4 (order o4) is still FAILED in order's outbox",
      "command c4 (order o4) has 0 notification row(s)",
    ]);
    expect(checks.map((c) => c.name)).toContain("every terminal order has exactly one email of its kind in Mailpit");
  });
});
