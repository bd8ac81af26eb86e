/**
 * The lab's report: the result as JSON (every number, the timeline, the RSS samples) and as markdown for people (the
 * verdict first, then each check, what was done when, and what the client saw). Full runs write into labs/results/,
 * short runs (CI, `--short`) into the ignored labs/results/tmp/, so they never overwrite a committed report.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../../scripts/mesh/child.js";
import type { LabResult } from "./lab.js";

/** resultsDir is where a run's reports go. */
export function resultsDir(short: boolean): string {
  return path.join(ROOT, "labs", "results", ...(short ? ["tmp"] : []));
}

/** writeReport writes `<scenario>.json` and `<scenario>.md` and returns their paths. */
export function writeReport(result: LabResult, knownIssue?: string): { json: string; markdown: string } {
  const dir = resultsDir(result.short);
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${result.scenario}.json`);
  const markdown = path.join(dir, `${result.scenario}.md`);
  writeFileSync(json, `${JSON.stringify({ ...result, knownIssue }, null, 2)}\n`);
  writeFileSync(markdown, toMarkdown(result, knownIssue));
  return { json, markdown };
}

/** toMarkdown renders a result for people. */
export function toMarkdown(r: LabResult, knownIssue?: string): string {
  const verdict = r.verdict.ok ? "PASS" : "FAIL";
  const lines = [
    `# Lab \`${r.scenario}\`${r.short ? " (short)" : ""}: ${verdict}`,
    "",
    `Started ${r.startedAt}, ${r.durationSeconds} s in all, on its own broker (127.0.0.1:${r.brokerPort}).`,
    ...(knownIssue ? ["", `Known issue (it may make this lab fail until fixed): ${knownIssue}.`] : []),
    ...(r.dataRoot ? ["", `The services' logs and databases were kept in \`${r.dataRoot}\`.`] : []),
    "",
    "## Reconciliation",
    "",
    "| check | verdict | detail |",
    "| --- | --- | --- |",
    ...r.verdict.checks.map((c) => `| ${c.name} | ${c.ok ? "pass" : "**FAIL**"} | ${c.summary.replaceAll("|", "\\|")} |`),
  ];
  const failed = r.verdict.checks.filter((c) => !c.ok);
  for (const c of failed) lines.push("", `### ${c.name}`, "", ...c.problems.map((p) => `- ${p}`));
  lines.push(
    "",
    "## Load",
    "",
    `${r.load.attempted} orders attempted, ${r.load.accepted} accepted, ${r.load.retries} retries (at most ${r.load.maxAttemptsUsed} attempts for one order), ` +
      `final rejections ${JSON.stringify(r.load.rejected)}, ${r.load.skippedTicks} ticks skipped with the client full. ` +
      (r.settleSeconds === undefined ? "The mesh did not settle within 60 s." : `Settled ${r.settleSeconds} s after the load stopped.`),
    "",
    `Peak RSS (MiB): ${Object.entries(r.peakRssMiB)
      .map(([name, mib]) => `${name} ${mib}`)
      .join(", ")}; ${r.rssSamples.length} samples, every 5 s${rssDrift(r)}.`,
    "",
    "## Timeline",
    "",
    ...r.timeline.map((t) => `- +${t.atSeconds} s: ${t.what}`),
  );
  if (Object.keys(r.facts).length > 0) lines.push("", "## Facts", "", "```json", JSON.stringify(r.facts, null, 2), "```");
  return `${lines.join("\n")}\n`;
}

/** rssDrift compares each process's first and last RSS sample (a steady climb under steady load is a leak to chase). */
function rssDrift(r: LabResult): string {
  const first = r.rssSamples[0]?.rssMiB;
  const last = r.rssSamples.at(-1)?.rssMiB;
  if (!first || !last || r.rssSamples.length < 2) return "";
  const drift = Object.keys(last)
    .filter((name) => first[name] !== undefined)
    .map((name) => `${name} ${first[name]} → ${last[name]}`);
  return drift.length > 0 ? `; first → last sample: ${drift.join(", ")}` : "";
}
