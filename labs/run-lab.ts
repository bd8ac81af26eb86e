/** runLab runs one scenario end to end (open, faults, settle, reconcile, report) and returns its result. */
import type { LabBroker } from "./lib/lab-broker.js";
import { Lab, type LabOptions, type LabResult } from "./lib/lab.js";
import { writeReport } from "./lib/report.js";
import type { Scenario } from "./scenarios/scenario.js";

export interface RunLabOptions {
  readonly short: boolean;
  readonly log?: (line: string) => void;
  /** broker: a running lab broker to share (see LabOptions.broker). */
  readonly broker?: LabBroker;
}

/** runLab: see the file comment. A lab that throws still releases its broker and mesh. */
export async function runLab(
  scenario: Scenario,
  options: RunLabOptions,
): Promise<{ result: LabResult; files: { json: string; markdown: string } }> {
  const processEnv = scenario.processEnv?.(options.short);
  const open = scenario.open
    ? (opts: LabOptions) => scenario.open!(options.short, opts)
    : (opts: LabOptions) => Lab.open(scenario.name, options.short, opts);
  const lab: Lab = await open({
    ...(processEnv ? { processEnv } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.broker ? { broker: options.broker } : {}),
    ...(scenario.commands ? { commands: true } : {}),
  });
  // Ctrl-C or SIGTERM: stop what the lab started (mesh, broker, proxy) rather than leave it running.
  const interrupted = (signal: NodeJS.Signals) => {
    void lab.close().finally(() => process.kill(process.pid, signal));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    try {
      await scenario.run(lab);
    } catch (error) {
      await lab.close();
      throw error;
    }
    const result = await lab.finish();
    return { result, files: writeReport(result, scenario.knownIssue) };
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  }
}
