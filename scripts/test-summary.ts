/**
 * test-summary reads a vitest run's JSON report and its console output and prints CI's closing line,
 * "tests: N passed, N failed, N skipped", counting a test file whose worker crashed, that failed to run, or that
 * raised an unhandled error as one failure each. It exits non-zero when anything failed, when no test ran, or when
 * vitest itself did.
 *
 *   tsx scripts/test-summary.ts <vitest.json> <vitest output log> [vitest's exit code]
 *
 * Why the output too: vitest 5's JSON report marks a file whose worker died ("Worker exited unexpectedly", e.g. a
 * native abort) as failed, but counts none of its tests as failed — those that never ran are "pending", and its
 * top-level numFailedTests leaves the file out — and an unhandled error shows up in the output only. The output
 * names the crashed files and where unhandled errors came from; the report gives the counts.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** VitestJsonReport is the part of vitest's JSON reporter output this reads. */
export interface VitestJsonReport {
  readonly testResults: readonly {
    readonly name: string;
    readonly status: string;
    readonly message: string;
    readonly assertionResults: readonly {
      readonly status: string;
      readonly fullName?: string;
      readonly failureMessages?: readonly string[];
    }[];
  }[];
}

/** FileProblem is a test file that counts as one failure of its own. */
export interface FileProblem {
  readonly file: string;
  readonly kind: "crashed" | "failed to run" | "unhandled error";
  readonly detail: string;
}

/** FailedTest is one test that failed, with the first line of its error: CI's output is often seen only in its tail. */
export interface FailedTest {
  readonly file: string;
  readonly name: string;
  readonly reason: string;
}

/** TestSummary is what CI reports at the end. */
export interface TestSummary {
  readonly passed: number;
  /** failed counts failed tests, plus one per file problem and per unhandled error no file owns. */
  readonly failed: number;
  readonly skipped: number;
  /** notRun counts the tests of crashed or unrunnable files that never reported (not skipped: never reached). */
  readonly notRun: number;
  readonly problems: readonly FileProblem[];
  readonly failedTests: readonly FailedTest[];
  /** unattributedErrors are unhandled errors vitest reported without naming a test file. */
  readonly unattributedErrors: number;
  /** ok: something ran and nothing failed. */
  readonly ok: boolean;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the ANSI colour codes this strips
const ANSI = /\x1b\[[0-9;]*m/g;
const CRASH = /Worker exited unexpectedly (.*?)\s*during \w+ state(?: while running test files? (.+))?$/gm;
const ORIGIN = /This error originated in "([^"]+)" test file/g;
const CAUGHT = /Vitest caught (\d+) unhandled errors?/;

/** summarize counts a run from its JSON report (undefined when vitest wrote none) and its console output. */
export function summarize(report: VitestJsonReport | undefined, output: string, root: string): TestSummary {
  const text = output.replace(ANSI, "");
  const relative = (file: string) => path.relative(root, path.resolve(root, file.trim()));
  const crashed = new Map<string, string>();
  let crashErrors = 0;
  for (const [, how, files] of text.matchAll(CRASH)) {
    crashErrors += 1;
    for (const file of files?.split(", ") ?? []) crashed.set(relative(file), `worker exited ${how ?? ""}`.trim());
  }
  const origins = [...text.matchAll(ORIGIN)].map(([, file]) => relative(file!));
  const caught = Number(CAUGHT.exec(text)?.[1] ?? 0);
  const unattributedErrors = Math.max(0, caught - crashErrors - origins.length);

  let passed = 0;
  const failedTests: FailedTest[] = [];
  let skipped = 0;
  let notRun = 0;
  const problems = new Map<string, FileProblem>();
  for (const result of report?.testResults ?? []) {
    const file = relative(result.name);
    const failedHere = result.assertionResults.filter((a) => a.status === "failed").length;
    const crash = crashed.get(file);
    if (crash) problems.set(file, { file, kind: "crashed", detail: crash });
    else if (result.status === "failed" && failedHere === 0) {
      problems.set(file, { file, kind: "failed to run", detail: result.message || "marked failed with no failed test" });
    }
    for (const { status, fullName, failureMessages } of result.assertionResults) {
      if (status === "passed") passed += 1;
      else if (status === "failed") failedTests.push({ file, name: fullName ?? "(unnamed)", reason: firstLine(failureMessages?.[0]) });
      else if (status === "pending" && problems.has(file)) notRun += 1;
      else skipped += 1;
    }
  }
  // A crash vitest reported for a file the JSON report does not list still counts.
  for (const [file, detail] of crashed) if (!problems.has(file)) problems.set(file, { file, kind: "crashed", detail });
  for (const file of origins) {
    if (!problems.has(file)) problems.set(file, { file, kind: "unhandled error", detail: "an error escaped its tests" });
  }
  if (!report) problems.set("(report)", { file: "(report)", kind: "failed to run", detail: "vitest wrote no JSON report" });
  const failed = failedTests.length + problems.size + unattributedErrors;
  return {
    passed,
    failed,
    skipped,
    notRun,
    problems: [...problems.values()],
    failedTests,
    unattributedErrors,
    ok: failed === 0 && passed > 0,
  };
}

function firstLine(message: string | undefined): string {
  const line =
    message
      ?.replace(ANSI, "")
      .split("\n")
      .find((l) => l.trim() !== "") ?? "no message";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** formatSummary renders one line per failed test and per problem, then the closing count line. */
export function formatSummary(summary: TestSummary): string[] {
  const lines = summary.failedTests.map((t) => `failed: ${t.file} > ${t.name}: ${t.reason}`);
  lines.push(...summary.problems.map((p) => `${p.kind}: ${p.file} (${p.detail})`));
  if (summary.unattributedErrors > 0) lines.push(`unhandled errors not tied to a test file: ${summary.unattributedErrors}`);
  if (summary.passed + summary.failed === 0) lines.push("no test ran");
  const notRun = summary.notRun > 0 ? `, ${summary.notRun} not run` : "";
  lines.push(`tests: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped${notRun}`);
  return lines;
}

function main(argv: readonly string[]): number {
  const [reportFile, outputFile, exitCodeArg] = argv;
  if (!reportFile || !outputFile) {
    process.stderr.write("usage: test-summary.ts <vitest.json> <vitest output log> [vitest exit code]\n");
    return 2;
  }
  const report = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, "utf8")) as VitestJsonReport) : undefined;
  const output = existsSync(outputFile) ? readFileSync(outputFile, "utf8") : "";
  const summary = summarize(report, output, process.cwd());
  const exitCode = Number(exitCodeArg ?? 0);
  const lines = formatSummary(summary);
  // vitest can fail for reasons no count shows (global setup, a config error); say so before the closing line.
  if (exitCode !== 0 && summary.ok) lines.splice(-1, 0, `vitest exited with ${exitCode}`);
  process.stdout.write(`${lines.join("\n")}\n`);
  return summary.ok && exitCode === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
