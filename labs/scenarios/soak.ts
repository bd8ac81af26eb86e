/** soak: minutes of steady load with no fault, each process's RSS sampled every 5 s (the report keeps the samples). */
import { sleep } from "../../scripts/mesh/wait.js";
import type { Lab } from "../lib/lab.js";
import { LAB_RATE, steadyLoad, type Scenario } from "./scenario.js";

export const soak: Scenario = {
  name: "soak",
  summary: "minutes of steady load, no faults, RSS of every process sampled every 5 s",
  async run(lab: Lab) {
    const seconds = lab.short ? 60 : 240;
    await steadyLoad(lab, LAB_RATE, seconds);
    await sleep(seconds * 1_000);
    lab.faultsStopped();
  },
};
