/**
 * Summaries of V8 .cpuprofile files (node --cpu-prof): the functions that own the most samples, by self time and by
 * total time (the function anywhere on the stack), each with its file and line, as percentages of the busy (non-idle)
 * samples.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../../scripts/mesh/child.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** HotFunction is one function's share of the samples. */
export interface HotFunction {
  readonly function: string;
  readonly location: string;
  readonly selfPct: number;
  readonly totalPct: number;
}

/** ProfileSummary is a profile's top functions and its idle share. */
export interface ProfileSummary {
  readonly file: string;
  readonly samples: number;
  readonly idlePct: number;
  readonly gcPct: number;
  readonly bySelf: readonly HotFunction[];
  readonly byTotal: readonly HotFunction[];
}

/** summarizeProfile reads one .cpuprofile and ranks its functions; see the file comment. */
export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${path.relative(ROOT, url.replace(/^file:\/\//, ""))}:${lineNumber + 1}` : "(native)";
    return `${functionName || "(anonymous)"}\u0000${where}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  let idle = 0;
  let gc = 0;
  profile.samples.forEach((id, i) => {
    const weight = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    all += weight;
    const name = node.callFrame.functionName;
    if (name === "(idle)") idle += weight;
    if (name === "(garbage collector)") gc += weight;
    const selfKey = keyOf(node);
    self.set(selfKey, (self.get(selfKey) ?? 0) + weight);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = keyOf(byId.get(at)!);
      if (seen.has(key)) continue; // recursion counts once per sample
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + weight);
    }
  });
  // Shares are of the busy samples (idle left out): a process idle between load runs would otherwise dilute them.
  const busy = Math.max(1, all - idle);
  const pct = (value: number) => Math.round((value / busy) * 1000) / 10;
  const rank = (map: Map<string, number>, skip: (name: string) => boolean) =>
    [...map]
      .filter(([key]) => !skip(key.split("\u0000")[0]!))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key]) => {
        const [fn, location] = key.split("\u0000") as [string, string];
        return { function: fn, location, selfPct: pct(self.get(key) ?? 0), totalPct: pct(total.get(key) ?? 0) };
      });
  const structural = (name: string) => ["(root)", "(program)", "(idle)"].includes(name);
  return {
    file: path.relative(ROOT, file),
    samples: profile.samples.length,
    idlePct: Math.round((idle / Math.max(1, all)) * 1000) / 10,
    gcPct: pct(gc),
    bySelf: rank(self, (name) => name === "(idle)"),
    byTotal: rank(total, structural),
  };
}

/** profileMarkdown renders a summary as a small markdown section. */
export function profileMarkdown(name: string, s: ProfileSummary): string {
  const rows = (list: readonly HotFunction[]) =>
    list.map((f) => `| ${f.selfPct} | ${f.totalPct} | \`${f.function}\` | ${f.location} |`).join("\n");
  return [
    `### ${name} (${s.samples} samples, idle ${s.idlePct} % of them; shares below are of busy samples, GC ${s.gcPct} %; ${s.file})`,
    "",
    "By self time:",
    "",
    "| self % | total % | function | where |",
    "|---:|---:|---|---|",
    rows(s.bySelf),
    "",
    "By total time (on the stack):",
    "",
    "| self % | total % | function | where |",
    "|---:|---:|---|---|",
    rows(s.byTotal),
    "",
  ].join("\n");
}
