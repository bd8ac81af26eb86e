export { createTracing, type CreateTracingOptions, type Tracing } from "./tracing.js";
export { PresetIds, Spans, SpanKind, SpanStatusCode, type Span } from "./spans.js";
