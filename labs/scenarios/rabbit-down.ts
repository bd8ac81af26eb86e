/**
 * rabbit-down: RabbitMQ, the command broker, stopped under load and started again (issue 12). The saga's events go on
 * flowing through Kafka; the SendOrderEmail commands order writes at each confirmation and cancellation wait in its
 * outbox (its command relay backs off) and leave once RabbitMQ is back. The verdict adds the email checks: one email per
 * terminal order, of its kind, in the notification service's database and in Mailpit, none lost, none doubled.
 */
import { sleep } from "../../scripts/mesh/wait.js";
import type { Lab } from "../lib/lab.js";
import { check } from "../lib/reconcile.js";
import { commandsWaiting, terminalOrders } from "../lib/snapshot.js";
import { LAB_RATE, steadyLoad, type Scenario } from "./scenario.js";

export const rabbitDown: Scenario = {
  name: "rabbit-down",
  summary: "stop RabbitMQ for 60 s under steady load (commands wait in order's outbox), then start it again; one email per terminal order",
  commands: true,
  async run(lab: Lab) {
    const [before, down, after] = lab.short ? [5, 15, 5] : [15, 60, 15];
    await steadyLoad(lab, LAB_RATE, before + down + after);
    await sleep(before * 1_000);
    const root = lab.mesh.dataRoot;
    const terminalAtStop = terminalOrders(root);
    await lab.stopRabbitmq();
    // Sampled every second of the outage: the count must climb (commands are written, none can leave) and the saga
    // must go on deciding orders (RabbitMQ down holds back only the command relay).
    const samples: { atSeconds: number; waiting: number }[] = [];
    const downUntil = Date.now() + down * 1_000;
    while (Date.now() < downUntil) {
      samples.push({ atSeconds: lab.seconds, waiting: commandsWaiting(root) });
      await sleep(Math.min(1_000, Math.max(0, downUntil - Date.now())));
    }
    const waitingAtRestart = commandsWaiting(root);
    const decidedWhileDown = terminalOrders(root) - terminalAtStop;
    const peak = Math.max(waitingAtRestart, ...samples.map((s) => s.waiting));
    lab.note(
      `${waitingAtRestart} command(s) waiting in order's outbox (peak ${peak}); ${decidedWhileDown} order(s) decided while RabbitMQ was down`,
    );
    await lab.startRabbitmq();
    // How long the waiting commands take to leave once RabbitMQ answers (the relay's backoff is at most 10 s).
    const backAt = Date.now();
    const afterUntil = backAt + after * 1_000;
    let drainedAfterSeconds: number | undefined;
    while (Date.now() < afterUntil) {
      if (drainedAfterSeconds === undefined && commandsWaiting(root) === 0) {
        drainedAfterSeconds = Math.round((Date.now() - backAt) / 100) / 10;
        lab.note(`order's outbox has no command waiting, ${drainedAfterSeconds} s after RabbitMQ was back`);
      }
      await sleep(Math.min(250, Math.max(0, afterUntil - Date.now())));
    }
    lab.facts["commandsWaiting"] = { peak, atRestart: waitingAtRestart, decidedWhileDown, downSeconds: down, drainedAfterSeconds, samples };
    lab.addCheck(
      check(
        "commands waited in order's outbox while RabbitMQ was down",
        peak > 0 ? [] : ["no command waited in order's outbox: the outage did not hold back any email"],
        `up to ${peak} command(s) waited; ${waitingAtRestart} when RabbitMQ came back`,
        () => "no command waited",
      ),
    );
    lab.addCheck(
      check(
        "orders were decided while RabbitMQ was down",
        decidedWhileDown > 0 ? [] : ["no order was confirmed or cancelled during the outage: the saga waited for RabbitMQ"],
        `${decidedWhileDown} order(s) confirmed or cancelled during the ${down} s outage`,
        () => "the saga stopped with RabbitMQ",
      ),
    );
    lab.faultsStopped();
  },
};
