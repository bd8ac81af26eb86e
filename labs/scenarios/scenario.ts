/**
 * Scenario is one fault lab: what it breaks, and how long for in its full and its short (CI) form. `run` starts the
 * load, injects the faults, and returns once the faults have stopped; the lab then settles and reconciles.
 */
import type { Lab, LabOptions } from "../lib/lab.js";
import type { ServiceName } from "../../scripts/mesh/mesh.js";

export interface Scenario {
  readonly name: string;
  /** summary says what the lab does, for the CLI's help and the report. */
  readonly summary: string;
  /** knownIssue names a bug this lab finds and that is not fixed on this branch yet (the report says so). */
  readonly knownIssue?: string;
  /** commands runs the lab's mesh with its command bus, RabbitMQ and Mailpit (LabOptions.commands). */
  readonly commands?: boolean;
  /** processEnv adds environment variables per service (e.g. a short reservation TTL). */
  processEnv?(short: boolean): Partial<Record<ServiceName, Record<string, string>>>;
  /** open replaces Lab.open for a scenario that must put something in front of the mesh first (a proxy). */
  open?(short: boolean, options: LabOptions): Promise<Lab>;
  run(lab: Lab): Promise<void>;
}

/** SERVICES are the services a process fault may hit. */
export const SERVICES: readonly ServiceName[] = ["inventory", "payment", "order"];

/**
 * LAB_RATE is the labs' steady load in orders/s: well below what the mesh sustains on a quiet 2-core machine, so a
 * backlog means a fault did damage. On a machine shared with other busy processes, 10/s already outran the consumers
 * (about 4 orders/s), and a full lab then failed for want of CPU, not because of its fault.
 */
export const LAB_RATE = 6;

/** between picks a whole number of milliseconds in [min, max]. */
export function between(minMs: number, maxMs: number): number {
  return Math.round(minMs + Math.random() * (maxMs - minMs));
}

/** steadyLoad starts the lab's usual load: three lab products, a fifth of the cards declined. */
export async function steadyLoad(lab: Lab, ratePerSecond: number, seconds: number): Promise<void> {
  const productIds = await lab.importProducts(3, 100_000);
  // maxOrders bounds the run even if the scenario's clock misbehaves: the planned seconds plus a minute's slack.
  lab.startLoad({ ratePerSecond, maxOrders: Math.ceil(ratePerSecond * (seconds + 60)), productIds });
}
