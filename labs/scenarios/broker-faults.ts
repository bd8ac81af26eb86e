/** Broker faults under load: the broker stopped for 60 s (broker-down), or frozen with SIGSTOP for 30 s (broker-freeze). */
import { sleep } from "../../scripts/mesh/wait.js";
import type { Lab } from "../lib/lab.js";
import { LAB_RATE, steadyLoad, type Scenario } from "./scenario.js";

export const brokerDown: Scenario = {
  name: "broker-down",
  summary: "stop the broker for 60 s under steady load, then start it again",
  async run(lab: Lab) {
    const [before, down, after] = lab.short ? [3, 10, 3] : [15, 60, 15];
    await steadyLoad(lab, LAB_RATE, before + down + after);
    await sleep(before * 1_000);
    await lab.stopBroker();
    await sleep(down * 1_000);
    await lab.startBroker();
    await sleep(after * 1_000);
    lab.faultsStopped();
  },
};

export const brokerFreeze: Scenario = {
  name: "broker-freeze",
  summary: "freeze the broker with SIGSTOP for 30 s under steady load (connections stay open, nothing answers), then SIGCONT",
  async run(lab: Lab) {
    const [before, frozen, after] = lab.short ? [5, 10, 5] : [15, 30, 15];
    await steadyLoad(lab, LAB_RATE, before + frozen + after);
    await sleep(before * 1_000);
    lab.signalBroker("SIGSTOP");
    try {
      await sleep(frozen * 1_000);
    } finally {
      lab.signalBroker("SIGCONT");
    }
    await sleep(after * 1_000);
    lab.faultsStopped();
  },
};
