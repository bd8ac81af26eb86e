import { AsyncLocalStorage } from "node:async_hooks";
import { randomFillSync } from "node:crypto";

/**
 * The trace context of the work in progress: the W3C `traceparent` (https://www.w3.org/TR/trace-context/) of the RPC
 * or event being handled. The gRPC adapter enters it for every call and the event bus for every consumed event, so
 * code further down (the outgoing-event builder, log lines) reads it from here instead of having it threaded through
 * every use case. A call or event that brought none starts a new trace, so nothing the mesh emits is ever without
 * one (grpcurl, for one, sends no `traceparent`).
 *
 * It stays the one source of trace and span ids when spans are exported too (services/shared/src/tracing): the kit's
 * OpenTelemetry spans take their ids from here rather than the other way round, so logs, `traceparent` and spans
 * agree, and tracing off leaves this plain AsyncLocalStorage with no SDK in the path.
 */
const storage = new AsyncLocalStorage<TraceContext>();

/** TraceContext is one position in a trace: the trace it belongs to and the span that is current. */
export interface TraceContext {
  /** traceId is 32 lowercase hex digits, never all zeros. */
  readonly traceId: string;
  /** spanId is 16 lowercase hex digits: the current operation, the parent of anything it starts. */
  readonly spanId: string;
  /** sampled is the `sampled` trace flag, passed on unchanged. */
  readonly sampled: boolean;
}

// https://www.w3.org/TR/trace-context/#traceparent-header-field-values: version-traceid-parentid-flags in lowercase
// hex. Version ff is invalid; a later version may append fields, which are ignored, while version 00 has exactly four.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** parseTraceparent reads a `traceparent`; undefined for anything malformed or all-zero (a new trace starts then). */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  const match = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

/** formatTraceparent writes a context as a version-00 `traceparent` header value. */
export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.spanId}-${context.sampled ? "01" : "00"}`;
}

/**
 * Ids come from a pool of random bytes refilled 4 KiB at a time: a randomBytes call per id costs about 4 µs here,
 * and every RPC starts a span (as crypto.randomUUID does, for the same reason).
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** randomHex is `bytes` random bytes as lowercase hex, never all zeros (the spec's invalid id). */
function randomHex(bytes: number): string {
  for (;;) {
    if (poolOffset + bytes > pool.length) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const hex = pool.toString("hex", poolOffset, poolOffset + bytes);
    poolOffset += bytes;
    if (!/^0+$/.test(hex)) return hex;
  }
}

/** newTrace starts a trace: a fresh trace id and span id, sampled. */
export function newTrace(): TraceContext {
  return { traceId: randomHex(16), spanId: randomHex(8), sampled: true };
}

/** childOf is a new span in the same trace, for work that the current span causes (an event, a downstream call). */
export function childOf(parent: TraceContext): TraceContext {
  return { traceId: parent.traceId, spanId: randomHex(8), sampled: parent.sampled };
}

/**
 * continueTrace is the context of work that `traceparent` causes (a served call, a consumed event, one reservation
 * on a stream): a child of it, or the root of a new trace when it is missing or malformed. `parent` is what it named,
 * the parent of the span that work records.
 */
export function continueTrace(traceparent: string | undefined): { own: TraceContext; parent: TraceContext | undefined } {
  const parent = parseTraceparent(traceparent);
  return { own: parent === undefined ? newTrace() : childOf(parent), parent };
}

/**
 * runInTrace runs `fn` inside the trace that `traceparent` names, continuing it as a child span, or inside a new
 * trace when `traceparent` is missing or malformed.
 */
export function runInTrace<T>(traceparent: string | undefined, fn: () => T): T {
  return storage.run(continueTrace(traceparent).own, fn);
}

/** runWithTrace runs `fn` with `context` as the work in progress (a context its caller made a span of). */
export function runWithTrace<T>(context: TraceContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** currentTrace is the trace of the work in progress, or undefined outside any call or event. */
export function currentTrace(): TraceContext | undefined {
  return storage.getStore();
}

/**
 * writerTraceparent is the `traceparent` an outbox row keeps: the span of the work that writes it (the served call
 * or consumed event), or the root of a new trace when there is no current work (a timer, a sweep). The relay makes
 * the PRODUCER span that sends the row a child of it, and the event carries that span on to its consumers.
 */
export function writerTraceparent(): string {
  return formatTraceparent(storage.getStore() ?? newTrace());
}
