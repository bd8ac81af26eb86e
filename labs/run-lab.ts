/** runLab runs one scenario end to end (open, faults, settle, reconcile, report) and returns its result. */
import { Lab, type LabBroker, type LabResult } from "./lib/lab.js";
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
  const lab = await Lab.open(scenario.name, options.short, {
    ...(processEnv ? { processEnv } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.broker ? { broker: options.broker } : {}),
  });
  try {
    await scenario.run(lab);
  } catch (error) {
    await lab.close();
    throw error;
  }
  const result = await lab.finish();
  return { result, files: writeReport(result, scenario.knownIssue) };
}
