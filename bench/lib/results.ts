/**
 * The results file's shape (bench/results/latest.json) and its check. Every measure P1–P7 is always present: a
 * measure that could not run has `value: null`, `met: false` and an `error`, so a reader never has to guess.
 */

/** Goal is one target a measure is judged against. */
export interface Goal {
  readonly text: string;
  readonly met: boolean;
}

/** Measure is one row of the results table. */
export interface Measure {
  readonly id: (typeof MEASURE_IDS)[number];
  readonly title: string;
  /** value is the headline figure (median over repeats), in `unit`. */
  readonly value: number | null;
  readonly unit: string;
  /** baseline is the same-run reference figure, or null where the issue sets none (P3, P6). */
  readonly baseline: number | null;
  readonly baselineLabel: string | null;
  /** ratio is value / baseline, or null without a baseline. */
  readonly ratio: number | null;
  /** goal is the goal as text; goals lists each sub-goal with its verdict. */
  readonly goal: string;
  readonly goals: readonly Goal[];
  readonly met: boolean;
  readonly details: Record<string, unknown>;
  readonly error?: string;
}

/** BenchResults is the whole file. */
export interface BenchResults {
  readonly schemaVersion: 1;
  readonly mode: "full" | "quick" | "smoke";
  readonly profiled: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSec: number;
  readonly command: string;
  readonly machine: Record<string, unknown>;
  readonly settings: Record<string, unknown>;
  readonly measures: readonly Measure[];
  readonly notes: readonly string[];
}

export const MEASURE_IDS = ["P1", "P2", "P3", "P4", "P5", "P6", "P7"] as const;

/** validateResults lists what is wrong with a parsed results file (empty when well-formed). */
export function validateResults(value: unknown): string[] {
  const problems: string[] = [];
  const r = value as Partial<BenchResults> | null;
  if (!r || typeof r !== "object") return ["not an object"];
  if (r.schemaVersion !== 1) problems.push("schemaVersion must be 1");
  if (!["full", "quick", "smoke"].includes(String(r.mode))) problems.push(`mode is ${String(r.mode)}`);
  if (!r.machine || typeof r.machine["nproc"] !== "number" || typeof r.machine["node"] !== "string")
    problems.push("machine lacks nproc/node");
  if (!Array.isArray(r.measures)) return [...problems, "measures is not an array"];
  for (const id of MEASURE_IDS) {
    const m = r.measures.find((x) => x?.id === id);
    if (!m) {
      problems.push(`${id} missing`);
      continue;
    }
    const numOrNull = (v: unknown) => v === null || (typeof v === "number" && Number.isFinite(v));
    if (!numOrNull(m.value)) problems.push(`${id}.value is ${String(m.value)}`);
    if (m.value === null && !m.error) problems.push(`${id}.value is null without an error`);
    if (!numOrNull(m.baseline)) problems.push(`${id}.baseline is ${String(m.baseline)}`);
    if (!numOrNull(m.ratio)) problems.push(`${id}.ratio is ${String(m.ratio)}`);
    if (m.baseline !== null && m.value !== null && m.ratio === null) problems.push(`${id} has a baseline but no ratio`);
    if (typeof m.goal !== "string" || m.goal.length === 0) problems.push(`${id}.goal missing`);
    if (typeof m.met !== "boolean") problems.push(`${id}.met is not a boolean`);
    if (!Array.isArray(m.goals) || m.goals.some((g: Goal) => typeof g.met !== "boolean")) problems.push(`${id}.goals malformed`);
  }
  return problems;
}
