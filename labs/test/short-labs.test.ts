/**
 * The short fault labs CI runs (`npm run lab -- <scenario> --short` does the same by hand): kill9, broker-down, poison,
 * expiry and rabbit-down (its mesh with the command bus, on a RabbitMQ and a Mailpit of its own), each with a mesh, ports and consumer groups of its own, judged by the reconciliation. They share one lab
 * broker in turn (not the suite's: broker-down stops it) to save three broker starts; each lab judges only the
 * messages after its own start. Reports go to the ignored labs/results/tmp/.
 *
 * expiry fails until issue 9's bug 1 (oversell after expiry) is fixed in the saga: its reconciliation finds CONFIRMED
 * orders whose reservation expired and whose stock was never committed. That failure is the bug, not the test.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseLabBroker, startLabBroker, type LabBroker } from "../lib/lab-broker.js";
import { runLab } from "../run-lab.js";
import { brokerDown } from "../scenarios/broker-faults.js";
import { expiry } from "../scenarios/expiry.js";
import { poison } from "../scenarios/poison.js";
import { rabbitDown } from "../scenarios/rabbit-down.js";
import { kill9 } from "../scenarios/process-faults.js";
import type { Scenario } from "../scenarios/scenario.js";

/** LAB_TIMEOUT_MS bounds one short lab: broker and mesh start, at most 45 s of faults, 60 s of settling, the reads. */
const LAB_TIMEOUT_MS = 240_000;

let broker: LabBroker;

beforeAll(async () => {
  broker = await startLabBroker();
}, 180_000);

afterAll(async () => {
  if (broker) await releaseLabBroker(broker);
}, 60_000);

async function failedChecks(scenario: Scenario) {
  const { result } = await runLab(scenario, { short: true, broker });
  return result.verdict.checks.filter((check) => !check.ok);
}

describe("short fault labs", () => {
  it("when a random service is killed with SIGKILL under load and restarted, then nothing is lost or doubled", {
    timeout: LAB_TIMEOUT_MS,
  }, async () => {
    expect(await failedChecks(kill9)).toEqual([]);
  });

  it("when the broker is down under load and comes back, then every order completes and every outbox drains", {
    timeout: LAB_TIMEOUT_MS,
  }, async () => {
    expect(await failedChecks(brokerDown)).toEqual([]);
  });

  it("when garbage and half-valid events arrive and a dead letter is replayed, then they are dead-lettered and the rest flows", {
    timeout: LAB_TIMEOUT_MS,
  }, async () => {
    expect(await failedChecks(poison)).toEqual([]);
  });

  it("when reservations expire before payment arrives, then no order is confirmed without its stock", {
    timeout: LAB_TIMEOUT_MS,
  }, async () => {
    expect(await failedChecks(expiry)).toEqual([]);
  });

  it("when RabbitMQ is down under load and comes back, then commands wait in order's outbox and every terminal order gets one email", {
    timeout: LAB_TIMEOUT_MS,
  }, async () => {
    const { result } = await runLab(rabbitDown, { short: true, broker });
    expect(result.verdict.checks.filter((check) => !check.ok)).toEqual([]);
    // The email checks ran (a verdict without them would pass whatever the bus did), over real emails.
    const names = result.verdict.checks.map((check) => check.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "every command left the outbox and was handled once",
        "every terminal order has exactly one email of its kind in notification's database",
        "every terminal order has exactly one email of its kind in Mailpit",
        "commands waited in order's outbox while RabbitMQ was down",
      ]),
    );
    const emails = result.facts["emails"] as { commands: number; mailpitMessages: number; terminalOrders: number };
    expect(emails.terminalOrders).toBeGreaterThan(0);
    expect(emails.mailpitMessages).toBe(emails.terminalOrders);
    expect(emails.commands).toBe(emails.terminalOrders);
  });
});
