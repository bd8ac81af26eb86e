import { describe, expect, it } from "vitest";
import { childOf, newTrace, parseTraceparent, formatTraceparent } from "#shared/trace-context.js";

describe("trace and span ids", () => {
  it("when thousands of traces start (past several pool refills), then every id is well-formed and none repeats", () => {
    const traces = Array.from({ length: 3_000 }, () => newTrace());
    const spans = traces.map((t) => childOf(t).spanId);

    for (const trace of traces) expect(parseTraceparent(formatTraceparent(trace))).toEqual(trace);
    expect(new Set(traces.map((t) => t.traceId)).size).toBe(traces.length);
    expect(new Set([...traces.map((t) => t.spanId), ...spans]).size).toBe(traces.length * 2);
  });
});
