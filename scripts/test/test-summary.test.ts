/**
 * scripts/test-summary.ts: CI's closing line counts a crashed test worker, a file that failed to run and an
 * unhandled error as failures. The report and output below are cut down from a real vitest 5.1 run (in
 * scripts/test/, one worker per file) with files that call process.abort() mid-test, in afterAll and at import,
 * throw at import, and let a rejection escape.
 */
import { describe, expect, it } from "vitest";
import { formatSummary, summarize, type VitestJsonReport } from "../test-summary.js";

const ROOT = "/repo";
const file = (name: string, status: string, assertions: string[], message = "") => ({
  name: `${ROOT}/scripts/test/${name}`,
  status,
  message,
  assertionResults: assertions.map((s) => ({ status: s })),
});

/** CRASHED_RUN is what vitest 5.1 wrote: crashed files "failed" with no failed test, never-run tests "pending". */
const CRASHED_RUN: VitestJsonReport = {
  testResults: [
    file("zz-a-afterall.test.ts", "failed", ["passed"]),
    file("zz-b-import.test.ts", "failed", []),
    file("zz-c-throws.test.ts", "failed", [], "import-time failure"),
    file("zz-crash.test.ts", "failed", ["passed", "passed", "pending", "pending"]),
    file("zz-d-unhandled.test.ts", "passed", ["passed", "passed"]),
    file("zz-e-plain.test.ts", "failed", ["passed", "failed", "skipped"]),
  ],
};

const CRASHED_OUTPUT = [
  "\x1b[31m⎯⎯⎯⎯⎯⎯\x1b[39m\x1b[1m\x1b[41m Unhandled Errors \x1b[49m\x1b[22m",
  "Vitest caught 4 unhandled errors during the test run.",
  "⎯⎯⎯⎯ Unhandled Rejection ⎯⎯⎯⎯⎯",
  "Error: escaped",
  'This error originated in "\x1b[1mscripts/test/zz-d-unhandled.test.ts\x1b[22m" test file. It doesn\'t mean the error was thrown inside the file itself, but while it was running.',
  "Error: [vitest-pool]: Worker forks emitted error.",
  `Caused by: Error: Worker exited unexpectedly with signal SIGABRT during started state while running test file ${ROOT}/scripts/test/zz-crash.test.ts`,
  "Error: [vitest-pool]: Worker forks emitted error.",
  `Caused by: Error: Worker exited unexpectedly with signal SIGABRT during started state while running test file ${ROOT}/scripts/test/zz-a-afterall.test.ts`,
  "Error: [vitest-pool]: Worker forks emitted error.",
  `Caused by: Error: Worker exited unexpectedly with signal SIGABRT during started state while running test file ${ROOT}/scripts/test/zz-b-import.test.ts`,
  " Test Files  2 failed | 1 passed (6)",
  "      Tests  1 failed | 7 passed (10)",
].join("\n");

describe("test-summary", () => {
  it("when workers crashed, then each crashed file counts as failed and its unreached tests as not run, not passed or skipped", () => {
    const summary = summarize(CRASHED_RUN, CRASHED_OUTPUT, ROOT);

    expect(summary.problems).toEqual([
      { file: "scripts/test/zz-a-afterall.test.ts", kind: "crashed", detail: "worker exited with signal SIGABRT" },
      { file: "scripts/test/zz-b-import.test.ts", kind: "crashed", detail: "worker exited with signal SIGABRT" },
      { file: "scripts/test/zz-c-throws.test.ts", kind: "failed to run", detail: "import-time failure" },
      { file: "scripts/test/zz-crash.test.ts", kind: "crashed", detail: "worker exited with signal SIGABRT" },
      { file: "scripts/test/zz-d-unhandled.test.ts", kind: "unhandled error", detail: "an error escaped its tests" },
    ]);
    // 1 failed test + 5 problem files; the 2 pending tests of the crashed file never ran.
    expect(summary).toMatchObject({ passed: 6, failed: 6, skipped: 1, notRun: 2, unattributedErrors: 0, ok: false });
    expect(formatSummary(summary).at(-1)).toBe("tests: 6 passed, 6 failed, 1 skipped, 2 not run");
    expect(formatSummary(summary)).toContain("crashed: scripts/test/zz-crash.test.ts (worker exited with signal SIGABRT)");
  });

  it("when the only problem is a crash after every test passed, then the run still fails", () => {
    const report = { testResults: [file("zz-a-afterall.test.ts", "failed", ["passed"])] };
    const output = `Caused by: Error: Worker exited unexpectedly with exit code 134 during started state while running test file ${ROOT}/scripts/test/zz-a-afterall.test.ts`;

    const summary = summarize(report, output, ROOT);

    expect(summary).toMatchObject({ passed: 1, failed: 1, ok: false });
    expect(summary.problems[0]?.detail).toBe("worker exited with exit code 134");
  });

  it("when a worker crash names no file the report lists, then it still counts, and so does an error no file owns", () => {
    const report = { testResults: [file("ok.test.ts", "passed", ["passed"])] };
    const output = [
      "Vitest caught 2 unhandled errors during the test run.",
      `Caused by: Error: Worker exited unexpectedly with signal SIGSEGV during started state while running test files ${ROOT}/a.test.ts, ${ROOT}/b.test.ts`,
      "Error: something in the runner itself",
    ].join("\n");

    const summary = summarize(report, output, ROOT);

    expect(summary.problems.map((p) => p.file)).toEqual(["a.test.ts", "b.test.ts"]);
    expect(summary).toMatchObject({ passed: 1, failed: 3, unattributedErrors: 1, ok: false });
  });

  it("when vitest wrote no report, then the run fails and says so", () => {
    const summary = summarize(undefined, "", ROOT);

    expect(summary.ok).toBe(false);
    expect(formatSummary(summary)).toEqual([
      "failed to run: (report) (vitest wrote no JSON report)",
      "tests: 0 passed, 1 failed, 0 skipped",
    ]);
  });

  it("when every file ran and passed, then the run is ok and the line counts only tests", () => {
    const report = {
      testResults: [file("a.test.ts", "passed", ["passed", "passed"]), file("b.test.ts", "passed", ["passed", "skipped", "todo"])],
    };

    const summary = summarize(report, " Test Files  2 passed (2)\n", ROOT);

    expect(summary.ok).toBe(true);
    expect(formatSummary(summary)).toEqual(["tests: 3 passed, 0 failed, 2 skipped"]);
  });

  it("when a test fails, then the closing lines name it with the first line of its error, since CI often shows only its tail", () => {
    const report = {
      testResults: [
        {
          ...file("c.test.ts", "failed", []),
          assertionResults: [
            { status: "passed", fullName: "c > works" },
            {
              status: "failed",
              fullName: "c > when x, then y",
              failureMessages: ["\x1b[31mAssertionError: expected 1 to be 2\x1b[39m\n    at c.test.ts:3:1"],
            },
          ],
        },
      ],
    };

    const lines = formatSummary(summarize(report, "", ROOT));

    expect(lines).toEqual([
      "failed: scripts/test/c.test.ts > c > when x, then y: AssertionError: expected 1 to be 2",
      "tests: 1 passed, 1 failed, 0 skipped",
    ]);
  });
});
