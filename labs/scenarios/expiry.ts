/**
 * expiry: reservations expire before payment arrives. Payment is stopped (gracefully) for three reservation TTLs
 * while orders keep coming, so their stock is released by the sweep; then payment comes back and authorizes them all.
 * The saga must then re-reserve or cancel and refund (issue 9, bug 1); until it does, the reconciliation fails with
 * CONFIRMED orders that have no stock commit.
 */
import { sleep } from "../../scripts/mesh/wait.js";
import type { Lab } from "../lib/lab.js";
import { steadyLoad, type Scenario } from "./scenario.js";

/** TTL_MS is the lab's reservation TTL: long enough for the normal flow, far shorter than the payment outage. */
const TTL_MS = 3_000;

export const expiry: Scenario = {
  name: "expiry",
  summary: `payment down for 3× a ${TTL_MS / 1000} s reservation TTL under load, so reservations expire before payment arrives`,
  processEnv: () => ({ inventory: { RESERVATION_TTL_MS: String(TTL_MS) } }),
  async run(lab: Lab) {
    const [before, down, after] = lab.short ? [4, (3 * TTL_MS) / 1000, 4] : [10, (5 * TTL_MS) / 1000, 10];
    await steadyLoad(lab, 5, before + down + after);
    await sleep(before * 1_000);
    await lab.killService("payment", "SIGTERM");
    await sleep(down * 1_000);
    await lab.restartService("payment");
    await sleep(after * 1_000);
    lab.faultsStopped();
  },
};
