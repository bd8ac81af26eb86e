/** SCENARIOS are the fault labs, in the order `npm run lab -- all` runs them. */
import { brokerDown, brokerFreeze } from "./broker-faults.js";
import { expiry } from "./expiry.js";
import { latency } from "./latency.js";
import { poison } from "./poison.js";
import { rabbitDown } from "./rabbit-down.js";
import { kill9, sigterm } from "./process-faults.js";
import type { Scenario } from "./scenario.js";
import { soak } from "./soak.js";

export const SCENARIOS: readonly Scenario[] = [kill9, brokerDown, brokerFreeze, latency, poison, sigterm, expiry, rabbitDown, soak];
