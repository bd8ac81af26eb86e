/**
 * The benchmark harness (bench/run.ts) runs end to end in its smoke mode (BENCH_SMOKE=1: about a second per load
 * run) against the suite's Kafka broker and RabbitMQ and writes well-formed results. No timing is asserted: figures on a
 * shared 2-core machine say nothing in a test; only that every measure P1–P7 ran and reported value, baseline, ratio,
 * goal and a verdict.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { MEASURE_IDS, validateResults, type BenchResults } from "../bench/lib/results.js";
import { childEnv, ROOT } from "../scripts/mesh/child.js";

const out = mkdtempSync(path.join(tmpdir(), "shopmesh-bench-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function runBench(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench", "run.ts"), "--quick", "--out", out], {
      cwd: ROOT,
      env: {
        ...childEnv(),
        BENCH_SMOKE: "1",
        KAFKA_BROKERS: process.env["KAFKA_BROKERS"] ?? inject("kafkaBrokers"),
        // P7 publishes to the suite's RabbitMQ (its own queue, deleted after), rather than starting a node of its own.
        RABBITMQ_URL: inject("rabbitmqUrl"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("exit", (code) => resolve({ code, output }));
  });
}

describe("bench:quick in smoke mode", () => {
  it("when run against the suite's broker, then it writes results with every measure P1–P7 judged", async () => {
    const { code, output } = await runBench();
    const tail = output
      .split("\n")
      .filter((l) => l.startsWith("[bench"))
      .slice(-30)
      .join("\n");
    expect(code, tail).toBe(0);

    const results = JSON.parse(readFileSync(path.join(out, "latest.json"), "utf8")) as BenchResults;
    expect(validateResults(results)).toEqual([]);
    expect(results.mode).toBe("smoke");
    expect(results.measures.map((m) => m.id)).toEqual([...MEASURE_IDS]);
    for (const measure of results.measures) {
      // Every measure ran: a number, not an error (a failure here names the measure and why).
      expect(measure.error, `${measure.id}: ${measure.error}`).toBeUndefined();
      expect(typeof measure.value, measure.id).toBe("number");
      expect(typeof measure.met, measure.id).toBe("boolean");
      expect(measure.goal.length, measure.id).toBeGreaterThan(0);
      if (measure.baseline !== null) expect(measure.ratio, measure.id).toBeCloseTo(measure.value! / measure.baseline, 2);
    }
    for (const id of ["P1", "P2", "P4", "P5", "P7"])
      expect(results.measures.find((m) => m.id === id)?.baseline, id).toEqual(expect.any(Number));
    expect(results.machine["nproc"]).toEqual(expect.any(Number));
    // P1 measured GetOrder over the mesh's mTLS and over plaintext in the same run and reported their ratios.
    const p1 = results.measures.find((m) => m.id === "P1")!;
    expect(p1.details["tlsCost"], "P1 mTLS / plaintext").toEqual(
      expect.objectContaining({ rps: expect.any(Number), p50Ms: expect.any(Number), p99Ms: expect.any(Number) }),
    );

    // P1 and P3 ran with tracing off and on in the same run, the traced sides really exporting spans (issue 11).
    expect(p1.details["tracingCost"], "P1 traced / untraced").toEqual(
      expect.objectContaining({ rps: expect.any(Number), p99Ms: expect.any(Number), spansExported: expect.any(Number) }),
    );
    expect((p1.details["tracingCost"] as { spansExported: number }).spansExported).toBeGreaterThan(0);
    const p3 = results.measures.find((m) => m.id === "P3")!;
    const p3Tracing = p3.details["tracingCost"] as {
      rows: { rate: number; confirmedPerSec: { ratio: number } }[];
      spansExported: number;
      spansWhileOff: number;
    };
    expect(p3.details["tracingCostError"], "P3 tracing comparison").toBeUndefined();
    expect(p3Tracing.rows.map((r) => r.rate)).toEqual([50]);
    expect(p3Tracing.rows[0]?.confirmedPerSec.ratio).toEqual(expect.any(Number));
    expect(p3Tracing.spansExported).toBeGreaterThan(0);
    expect(p3Tracing.spansWhileOff).toBe(0);

    // P7 also measured the raw publisher awaiting each confirm, the bus's way, and said what the relay adds to it.
    const p7 = results.measures.find((m) => m.id === "P7")!;
    expect(p7.details["rawSequential"], "P7 one confirm at a time").toEqual(expect.objectContaining({ median: expect.any(Number) }));
    expect(p7.details["ratioToSequential"], "P7 relay / sequential").toEqual(expect.any(Number));

    const markdown = readFileSync(path.join(out, "latest.md"), "utf8");
    for (const id of MEASURE_IDS) expect(markdown).toContain(`| ${id} |`);
    expect(markdown).toContain("mTLS / plaintext GetOrder");
    expect(markdown).toContain("traced / untraced GetOrder");
    expect(markdown).toContain("Tracing off against on");
    expect(existsSync(path.join(out, "p3-latency.svg"))).toBe(true);
  }, 240_000);
});
