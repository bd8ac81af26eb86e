import { describe, expect, it } from "vitest";
import {
  childOf,
  currentTrace,
  formatTraceparent,
  newTrace,
  writerTraceparent,
  parseTraceparent,
  runInTrace,
} from "#shared/trace-context.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const SHAPE = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;

describe("trace context", () => {
  it("when a well-formed traceparent is parsed, then its ids and sampled flag are read, and formatting gives it back", () => {
    const context = parseTraceparent(TRACEPARENT);

    expect(context).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", sampled: true });
    expect(formatTraceparent(context!)).toBe(TRACEPARENT);
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled).toBe(false);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["upper-case hex", TRACEPARENT.toUpperCase()],
    ["a short trace id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"],
    ["an all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["an all-zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ["version 00 with a fifth field", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"],
  ])("when a traceparent is %s, then it is not a trace context", (_what, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it("when a later version appends fields, then its first four are read (the spec's forward compatibility)", () => {
    expect(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future")).toEqual({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      sampled: true,
    });
  });

  it("when a child is made, then it keeps the trace and the flag and gets a span of its own", () => {
    const parent = newTrace();

    const child = childOf(parent);

    expect(child.traceId).toBe(parent.traceId);
    expect(child.sampled).toBe(parent.sampled);
    expect(child.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(child.spanId).not.toBe(parent.spanId);
  });

  it("when work runs in a caller's trace, then it is a child span of it, also after an await", async () => {
    const seen = await runInTrace(TRACEPARENT, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return currentTrace();
    });

    expect(seen?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(seen?.spanId).not.toBe("00f067aa0ba902b7");
    expect(currentTrace()).toBeUndefined();
  });

  it("when work runs without a (valid) traceparent, then it runs in a new trace of its own", () => {
    const first = runInTrace(undefined, () => currentTrace());
    const second = runInTrace("garbage", () => currentTrace());

    expect(first?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(second?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(first?.traceId).not.toBe(second?.traceId);
  });

  it("when an outbox row is written inside a trace, then its traceparent names the writing span (the relay's PRODUCER span is its child)", () => {
    const { current, written } = runInTrace(TRACEPARENT, () => ({ current: currentTrace(), written: writerTraceparent() }));

    expect(parseTraceparent(written)).toEqual(current);
  });

  it("when a row is written outside any work (a timer), then it starts a new trace each time", () => {
    const first = writerTraceparent();
    const second = writerTraceparent();

    expect(first).toMatch(SHAPE);
    expect(parseTraceparent(first)?.traceId).not.toBe(parseTraceparent(second)?.traceId);
  });
});
