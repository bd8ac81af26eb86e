/**
 * Process faults under load: a random service killed every 20–40 s (kill9: SIGKILL, nothing flushed; sigterm: the
 * graceful stop) and started again on the same port and database, as a supervisor would.
 */
import { sleep } from "../../scripts/mesh/wait.js";
import type { Lab } from "../lib/lab.js";
import { between, LAB_RATE, SERVICES, steadyLoad, type Scenario } from "./scenario.js";

function processFaults(name: string, signal: "SIGKILL" | "SIGTERM", summary: string): Scenario {
  return {
    name,
    summary,
    async run(lab: Lab) {
      const seconds = lab.short ? 24 : 180;
      await steadyLoad(lab, LAB_RATE, seconds);
      const end = Date.now() + seconds * 1_000;
      const [minGap, maxGap] = lab.short ? [7_000, 10_000] : [20_000, 40_000];
      for (;;) {
        const gap = between(minGap, maxGap);
        if (Date.now() + gap > end) break;
        await sleep(gap);
        const victim = SERVICES[Math.floor(Math.random() * SERVICES.length)]!;
        await lab.killService(victim, signal);
        await lab.restartService(victim);
      }
      await sleep(Math.max(0, end - Date.now()));
      lab.faultsStopped();
    },
  };
}

export const kill9 = processFaults("kill9", "SIGKILL", "kill -9 a random service every 20–40 s under steady load, then restart it");
export const sigterm = processFaults("sigterm", "SIGTERM", "SIGTERM a random service every 20–40 s under steady load, then restart it");
