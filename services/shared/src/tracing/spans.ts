import { ROOT_CONTEXT, type SpanKind, TraceFlags, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import type { IdGenerator } from "@opentelemetry/sdk-trace-base";
import { newTrace, type TraceContext } from "../trace-context.js";

export { SpanKind, SpanStatusCode, type Span } from "@opentelemetry/api";

/**
 * PresetIds is the provider's IdGenerator, hand-written because OpenTelemetry's Tracer has no way to be given a span's
 * ids: the kit's trace context (trace-context.ts) decides them before any span exists, writes them into the log lines
 * and onto the wire (`traceparent`), and the spans must carry those very ids or Zipkin's tree and the logs would name
 * different spans. The Tracer asks its IdGenerator for the span id (and, for a root, the trace id) synchronously at
 * the top of `startSpan`; {@link Spans.start} sets them right before that call, in the same tick, so no other span
 * can take them. Anything else that starts a span through this provider gets random ids, as with the SDK's default.
 */
export class PresetIds implements IdGenerator {
  private traceId: string | undefined;
  private spanId: string | undefined;

  preset(context: TraceContext): void {
    this.traceId = context.traceId;
    this.spanId = context.spanId;
  }

  generateTraceId(): string {
    const id = this.traceId ?? newTrace().traceId;
    this.traceId = undefined;
    return id;
  }

  generateSpanId(): string {
    const id = this.spanId ?? newTrace().spanId;
    this.spanId = undefined;
    return id;
  }

  /** clear drops ids a start did not take (a span the sampler dropped still takes its span id; this is a backstop). */
  clear(): void {
    this.traceId = undefined;
    this.spanId = undefined;
  }
}

/**
 * Spans starts the kit's spans on one provider's tracer, each with the ids of a TraceContext. A process with tracing
 * off has no Spans at all (the adapter and the client hold `undefined` and skip every span call).
 */
export class Spans {
  constructor(
    private readonly tracer: Tracer,
    private readonly ids: PresetIds,
  ) {}

  /**
   * start begins a span whose ids are `own`'s, as the child of `parent` (a span of this process or, `remote`, of the
   * caller), or as a root of `own`'s trace when there is no parent. `own` and `parent` must share the trace id.
   * `startTime` dates a span recorded after the fact (the relay's PRODUCER span begins when its row was written).
   */
  start(
    kind: SpanKind,
    name: string,
    own: TraceContext,
    parent: TraceContext | undefined,
    attributes: Attributes,
    remote = false,
    startTime?: Date,
  ): Span {
    const context =
      parent === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.spanId,
            traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
            isRemote: remote,
          });
    this.ids.preset(own);
    try {
      return this.tracer.startSpan(name, { kind, attributes, ...(startTime ? { startTime } : {}) }, context);
    } finally {
      this.ids.clear();
    }
  }
}
