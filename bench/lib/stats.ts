/** Summary is the median of repeated measurements of one figure, with its spread. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** spreadPct is (max - min) / median in percent: how much the repeats disagree. */
  readonly spreadPct: number;
  readonly samples: readonly number[];
}

/** median of a non-empty list (the mean of the middle two for an even count). */
function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** percentile by nearest rank (p in 0..100) of a list; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** summarize reduces repeats to their median and spread. */
export function summarize(samples: readonly number[]): Summary {
  const m = median(samples);
  const min = Math.min(...samples);
  const max = Math.max(...samples);
  return { median: m, min, max, spreadPct: m === 0 ? 0 : round(((max - min) / m) * 100, 1), samples: samples.map((s) => round(s, 3)) };
}

/** round to `digits` decimals (figures in the report need no more). */
export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
