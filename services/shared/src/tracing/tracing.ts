import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { ZipkinExporter } from "@opentelemetry/exporter-zipkin";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { TracingSettings } from "../config.js";
import { PresetIds, Spans } from "./spans.js";

/** TRACER_NAME is the instrumentation scope of the kit's own spans (the RPC adapter and client). */
const TRACER_NAME = "shopmesh";

/** Tracing is one process's (or, in-process tests, one service's) span pipeline: spans in, an exporter out. */
export interface Tracing {
  /** spans start the kit's spans on this provider. */
  readonly spans: Spans;
  /** flush exports every span ended so far (tests read an in-memory exporter after it). */
  flush(): Promise<void>;
  /** shutdown flushes and stops the pipeline; the service's stop calls it last, so the final calls' spans go too. */
  shutdown(): Promise<void>;
}

/** CreateTracingOptions: the service's name and, for tests, an exporter that replaces the configured one. */
export interface CreateTracingOptions {
  /** serviceName becomes the resource's `service.name` (Zipkin's service, OTLP's `service.name`). */
  readonly serviceName: string;
  /** exporter, when given, receives the spans whatever `settings` say (an InMemorySpanExporter in tests). */
  readonly exporter?: SpanExporter | undefined;
  /** logger hears of spans that could not be exported (once per outage, see {@link warnOnFailedExports}). */
  readonly logger?: ExportLogger | undefined;
}

/** ExportLogger is the part of the service's logger the exporter's warnings go to. */
export interface ExportLogger {
  warn(fields: object, message: string): void;
}

/**
 * createTracing builds a tracer provider from the settings, or nothing when tracing is off and no exporter is given:
 * then the adapter and the client get no Spans and start none, so tracing off costs nothing per call.
 *
 * The provider is not registered as OpenTelemetry's global one: spans here are started by the kit alone (no
 * auto-instrumentation, which this ESM project only gets under `node --import` of a loader hook), and in-process
 * tests run several services in one process, each with its own `service.name`, which one global provider could not.
 * Sampling follows the caller's `sampled` flag (ParentBased) and samples every root, as the trace context does.
 * Export goes through a batch processor: the call that ends a span never waits on the network.
 */
export function createTracing(settings: TracingSettings, options: CreateTracingOptions): Tracing | undefined {
  const configured = options.exporter ?? exporterFor(settings);
  if (configured === undefined) return undefined;
  const exporter = options.logger ? warnOnFailedExports(configured, options.logger, endpointOf(settings)) : configured;
  const ids = new PresetIds();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    idGenerator: ids,
    // An export that hangs (a collector that accepts and never answers) must not eat the stop's close budget
    // (CLOSE_BUDGET_MS in the kit): 5 s instead of the SDK's 30 s; spans it could not send are dropped.
    spanProcessors: [new BatchSpanProcessor(exporter, { exportTimeoutMillis: 5_000 })],
  });
  let stopped: Promise<void> | undefined;
  return {
    spans: new Spans(provider.getTracer(TRACER_NAME), ids),
    flush: () => provider.forceFlush(),
    shutdown: () => (stopped ??= provider.shutdown()),
  };
}

function exporterFor(settings: TracingSettings): SpanExporter | undefined {
  switch (settings.mode) {
    case "off":
      return undefined;
    case "zipkin":
      return new ZipkinExporter({ url: settings.endpoint });
    case "otlp":
      return new OTLPTraceExporter({ url: settings.endpoint });
  }
}

function endpointOf(settings: TracingSettings): string | undefined {
  return settings.mode === "off" ? undefined : settings.endpoint;
}

/**
 * warnOnFailedExports logs the first failed export of an outage (Zipkin or the collector down, a wrong endpoint) and
 * says when exports work again. Hand-written because OpenTelemetry reports export failures only through its diag
 * logger, a no-op unless one is installed, so without this the spans were dropped without a word; one line per
 * outage, not per batch, keeps a long outage from flooding the log.
 */
export function warnOnFailedExports(exporter: SpanExporter, logger: ExportLogger, endpoint: string | undefined): SpanExporter {
  let failing = false;
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      exporter.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS && !failing) {
          failing = true;
          logger.warn(
            { endpoint, spans: spans.length, err: result.error?.message },
            "spans could not be exported and are dropped; further failures are not logged until an export works again",
          );
        } else if (result.code === ExportResultCode.SUCCESS && failing) {
          failing = false;
          logger.warn({ endpoint }, "spans are exported again");
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    ...(exporter.forceFlush ? { forceFlush: () => exporter.forceFlush!() } : {}),
  };
}
