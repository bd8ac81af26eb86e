// OpenTelemetry spans of the kit (services/shared/src/tracing): settings, SERVER spans in the gRPC adapter and CLIENT
// spans in the kit's client, with the very ids of the trace context the logs and the wire carry, and the flush on stop.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { Metadata, status } from "@grpc/grpc-js";
import { InMemorySpanExporter, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { ConfigError, readServiceSettings, readTracingSettings, type ServiceSettings } from "#shared/config.js";
import { toOutgoingEvent, type EventBus, type OutgoingEvent } from "#shared/events/event-bus.js";
import { create } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { createClient, implement, type ServiceClient } from "#shared/grpc/index.js";
import { serializeMessage } from "#shared/grpc/service-definition.js";
import { startService } from "#shared/kit/index.js";
import { currentTrace, parseTraceparent, type TraceContext } from "#shared/trace-context.js";
import { createTracing, type Tracing } from "#shared/tracing/index.js";
import { warnOnFailedExports } from "#shared/tracing/tracing.js";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { inventoryServers, memoryLogger, rejection, until } from "./fixtures/grpc-harness.js";

const start = inventoryServers();
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN = "b7ad6b7169203331";
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
const GET_PRODUCT = "shop.inventory.v1.InventoryService/GetProduct";

describe("tracing settings (TRACING, ZIPKIN_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT)", () => {
  it("when nothing is set, then tracing is off, and createTracing builds no provider", () => {
    const settings = readTracingSettings({});
    expect(settings).toEqual({ mode: "off" });
    expect(createTracing(settings, { serviceName: "x" })).toBeUndefined();
    expect(readServiceSettings({}, "order", 50051).tracing).toEqual({ mode: "off" });
  });

  it("when TRACING=zipkin, then spans go to the local Zipkin's collector unless ZIPKIN_ENDPOINT says otherwise", () => {
    expect(readTracingSettings({ TRACING: "zipkin" })).toEqual({ mode: "zipkin", endpoint: "http://127.0.0.1:9411/api/v2/spans" });
    expect(readTracingSettings({ TRACING: "ZIPKIN", ZIPKIN_ENDPOINT: "http://zipkin:9411/api/v2/spans" })).toEqual({
      mode: "zipkin",
      endpoint: "http://zipkin:9411/api/v2/spans",
    });
  });

  it("when OTEL_EXPORTER_OTLP_ENDPOINT is set, then it means OTLP to its /v1/traces", () => {
    expect(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318/" })).toEqual({
      mode: "otlp",
      endpoint: "http://127.0.0.1:4318/v1/traces",
    });
    expect(readTracingSettings({ TRACING: "off", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toEqual({ mode: "off" });
  });

  it("when the settings contradict or name no usable URL, then the start fails naming the variables", () => {
    expect(() => readTracingSettings({ TRACING: "zipkin", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toThrow(
      /"TRACING" is zipkin but "OTEL_EXPORTER_OTLP_ENDPOINT" is set/,
    );
    expect(() => readTracingSettings({ TRACING: "otlp" })).toThrow(/"OTEL_EXPORTER_OTLP_ENDPOINT" is not set/);
    expect(() => readTracingSettings({ TRACING: "jaeger" })).toThrow(ConfigError);
    expect(() => readTracingSettings({ TRACING: "zipkin", ZIPKIN_ENDPOINT: "127.0.0.1:9411" })).toThrow(
      /"ZIPKIN_ENDPOINT" must be an http\(s\) URL/,
    );
  });
});

/** traced is a Tracing that keeps its spans in memory; `spans()` flushes the batch first. */
function traced(serviceName: string): { tracing: Tracing; spans(): Promise<ReadableSpan[]> } {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ mode: "off" }, { serviceName, exporter })!;
  cleanups.push(() => tracing.shutdown());
  return {
    tracing,
    spans: async () => {
      await tracing.flush();
      return exporter.getFinishedSpans();
    },
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Seen is what a handler saw of its trace: the context it ran in and the `traceparent` its caller sent. */
interface Seen {
  trace: TraceContext | undefined;
  traceparent: string | null;
}

/**
 * frontAndBack serves two InventoryService servers, each with its own tracing: front's GetProduct calls back's
 * GetProduct through the kit's client (with front's spans), as order calls inventory.
 */
async function frontAndBack(backHandler: () => unknown = () => ({})) {
  const front = traced("front");
  const back = traced("back");
  const seen: { front?: Seen; back?: Seen } = {};
  const backLogger = memoryLogger();
  const backServer = await start(
    {
      getProduct: async (_req, ctx) => {
        seen.back = { trace: currentTrace(), traceparent: ctx.requestHeader.get("traceparent") };
        return backHandler() as object;
      },
    },
    { spans: back.tracing.spans, logger: backLogger },
  );
  let toBack: ServiceClient<typeof InventoryService> | undefined;
  const frontServer = await start(
    {
      getProduct: async (req, ctx) => {
        seen.front = { trace: currentTrace(), traceparent: ctx.requestHeader.get("traceparent") };
        return await toBack!.getProduct(req, { signal: ctx.signal });
      },
    },
    { spans: front.tracing.spans },
  );
  toBack = createClient(InventoryService, backServer.address, { spans: front.tracing.spans });
  cleanups.push(() => toBack?.close());
  return { front, back, seen, backLogger, client: frontServer.client, backAddress: backServer.address };
}

function only(spans: ReadableSpan[], kind: SpanKind): ReadableSpan {
  const matching = spans.filter((span) => span.kind === kind);
  expect(matching, `one ${SpanKind[kind]} span`).toHaveLength(1);
  return matching[0]!;
}

describe("RPC spans in the kit's adapter and client", () => {
  it("when a call crosses two servers, then SERVER → CLIENT → SERVER spans share the caller's trace id and carry the ids on the wire", async () => {
    const { front, back, seen, backLogger, client, backAddress } = await frontAndBack();

    await client.getProduct({ productId: "sku-1" }, { metadata: { traceparent: TRACEPARENT } });

    const frontSpans = await front.spans();
    const frontServer = only(frontSpans, SpanKind.SERVER);
    const frontClient = only(frontSpans, SpanKind.CLIENT);
    const backServer = only(await back.spans(), SpanKind.SERVER);

    // One trace: the caller's, which is also the trace id the handlers ran in (and so the one their logs show).
    for (const span of [frontServer, frontClient, backServer]) expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(seen.front?.trace?.traceId).toBe(TRACE_ID);
    expect(seen.back?.trace?.traceId).toBe(TRACE_ID);
    await until("back logs the RPC", () => backLogger.lines.length === 1);
    expect(backLogger.lines[0]?.fields).toMatchObject({ traceId: TRACE_ID });

    // front's SERVER span is the context front's handler ran in, a child of the caller's span.
    expect(frontServer.spanContext().spanId).toBe(seen.front?.trace?.spanId);
    expect(frontServer.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    // The CLIENT span is the traceparent that crossed the wire, a child of front's SERVER span.
    const sent = parseTraceparent(seen.back?.traceparent ?? undefined);
    expect(frontClient.spanContext().spanId).toBe(sent?.spanId);
    expect(frontClient.parentSpanContext?.spanId).toBe(frontServer.spanContext().spanId);
    // back's SERVER span is the context back's handler ran in, a child of that CLIENT span.
    expect(backServer.spanContext().spanId).toBe(seen.back?.trace?.spanId);
    expect(backServer.parentSpanContext?.spanId).toBe(frontClient.spanContext().spanId);
    expect(backServer.parentSpanContext?.isRemote).toBe(true);

    // Named and described after the RPC semantic conventions, each under its own service.name.
    for (const span of [frontServer, frontClient, backServer]) {
      expect(span.name).toBe(GET_PRODUCT);
      expect(span.attributes).toMatchObject({ "rpc.system.name": "grpc", "rpc.method": GET_PRODUCT, "rpc.status_code": "OK" });
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    }
    expect(frontClient.attributes).toMatchObject({ "server.address": "127.0.0.1", "server.port": Number(backAddress.split(":")[1]) });
    expect(frontServer.resource.attributes["service.name"]).toBe("front");
    expect(backServer.resource.attributes["service.name"]).toBe("back");
  });

  it("when a call brings no traceparent, then its SERVER span is the root of the new trace its handler runs in", async () => {
    const { front, seen, client } = await frontAndBack();

    // grpc-js itself, with empty metadata, as grpcurl calls: the kit's client always sends a traceparent.
    const method = InventoryService.method.getProduct;
    await new Promise((resolve, reject) =>
      client.grpcClient.makeUnaryRequest(
        `/${GET_PRODUCT}`,
        (value: unknown) => serializeMessage(method.input, value),
        (bytes: Buffer) => bytes,
        { productId: "sku-1" },
        new Metadata(),
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    expect(seen.front?.traceparent).toBeNull();

    const server = only(await front.spans(), SpanKind.SERVER);
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.spanContext().traceId).toBe(seen.front?.trace?.traceId);
    expect(server.spanContext().spanId).toBe(seen.front?.trace?.spanId);
  });

  it("when the callee answers NOT_FOUND, then the CLIENT span is an error and the callee's SERVER span is not (the caller's mistake)", async () => {
    const { front, back, client } = await frontAndBack(() => {
      throw new ConnectError("no such product", Code.NotFound);
    });

    expect((await rejection(client.getProduct({ productId: "nope" }))).code).toBe(status.NOT_FOUND);

    const frontClient = only(await front.spans(), SpanKind.CLIENT);
    const backServer = only(await back.spans(), SpanKind.SERVER);
    expect(frontClient.attributes["rpc.status_code"]).toBe("NOT_FOUND");
    expect(frontClient.status).toEqual({ code: SpanStatusCode.ERROR, message: "no such product" });
    expect(backServer.attributes["rpc.status_code"]).toBe("NOT_FOUND");
    expect(backServer.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("when the callee fails with INTERNAL, then its SERVER span is an error", async () => {
    const { back, client } = await frontAndBack(() => {
      throw new Error("database is on fire");
    });

    expect((await rejection(client.getProduct({ productId: "x" }))).code).toBe(status.INTERNAL);

    const backServer = only(await back.spans(), SpanKind.SERVER);
    expect(backServer.attributes["rpc.status_code"]).toBe("INTERNAL");
    expect(backServer.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("when the caller's traceparent is not sampled, then no span is recorded but the trace still goes on", async () => {
    const { front, back, seen, client } = await frontAndBack();

    await client.getProduct({ productId: "sku-1" }, { metadata: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-00` } });

    expect(await front.spans()).toEqual([]);
    expect(await back.spans()).toEqual([]);
    expect(parseTraceparent(seen.back?.traceparent ?? undefined)).toMatchObject({ traceId: TRACE_ID, sampled: false });
  });
});

describe("trace propagation by the kit's client with tracing off", () => {
  it("when a handler calls another service, then the call carries a traceparent continuing the handler's trace", async () => {
    let received: string | null = null;
    const back = await start({
      getProduct: (_req, ctx) => {
        received = ctx.requestHeader.get("traceparent");
        return {};
      },
    });
    const toBack = createClient(InventoryService, back.address);
    cleanups.push(() => toBack.close());
    let handlerTrace: TraceContext | undefined;
    const front = await start({
      getProduct: async (req) => {
        handlerTrace = currentTrace();
        return await toBack.getProduct(req);
      },
    });

    await front.client.getProduct({ productId: "x" }, { metadata: { traceparent: TRACEPARENT } });

    const sent = parseTraceparent(received ?? undefined);
    expect(sent?.traceId).toBe(TRACE_ID);
    expect(sent?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(sent?.spanId).not.toBe(handlerTrace?.spanId); // a child span, not the handler's own
    expect(sent?.spanId).not.toBe(CALLER_SPAN);
  });
});

/** RecordingExporter keeps what it was sent across shutdown (InMemorySpanExporter forgets its spans at shutdown). */
class RecordingExporter implements SpanExporter {
  readonly spans: ReadableSpan[] = [];
  export(spans: ReadableSpan[], done: Parameters<SpanExporter["export"]>[1]): void {
    this.spans.push(...spans);
    done({ code: 0 }); // ExportResultCode.SUCCESS (@opentelemetry/core, not a direct dependency)
  }
  async shutdown(): Promise<void> {}
}

/** QuietBus is the least EventBus a service with no topics needs. */
const quietBus: EventBus = {
  ready: async () => undefined,
  publish: async () => undefined,
  subscribe: async () => ({ close: async () => undefined }),
  close: async () => undefined,
};

describe("tracing in the service kit", () => {
  it("when a service with a span exporter stops, then the spans of its last calls are exported under its name", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tracing-kit-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const settings: ServiceSettings = readServiceSettings(
      { PORT: "0", DATA_DIR: dir, SHUTDOWN_DRAIN_MS: "0", MESH_INSECURE: "1" },
      "kittrace",
      0,
    );
    const exporter = new RecordingExporter();
    const service = await startService(
      { name: "kittrace", schema: [], wire: () => ({ serves: [implement(InventoryService, { getProduct: () => ({}) })], parts: {} }) },
      settings,
      { bus: quietBus, spanExporter: exporter },
    );
    const client = createClient(InventoryService, service.address);
    cleanups.push(() => client.close());

    await client.getProduct({ productId: "x" }, { metadata: { traceparent: TRACEPARENT } });
    // The batch processor waits up to 5 s before it exports: right after the call, nothing has gone yet ...
    expect(exporter.spans).toEqual([]);
    await service.stop();

    // ... and the stop's last step flushed it.
    const server = exporter.spans.find((span) => span.name === GET_PRODUCT);
    expect(server?.kind).toBe(SpanKind.SERVER);
    expect(server?.spanContext().traceId).toBe(TRACE_ID);
    expect(server?.resource.attributes["service.name"]).toBe("kittrace");
  });
});

describe("timer ticks in the service kit", () => {
  it("when one tick writes an event and the others find nothing to do, then only that tick records a span, and the event's send hangs under it", async () => {
    // Arrange: a timer every 20 ms whose first tick writes one outbox row.
    const dir = mkdtempSync(path.join(tmpdir(), "tracing-tick-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const settings = readServiceSettings({ PORT: "0", DATA_DIR: dir, SHUTDOWN_DRAIN_MS: "0", MESH_INSECURE: "1" }, "ticker", 0);
    const exporter = new RecordingExporter();
    const published: OutgoingEvent[] = [];
    const bus: EventBus = { ...quietBus, publish: async (_topic, events) => void published.push(...events) };
    let ticks = 0;
    const service = await startService(
      {
        name: "ticker",
        schema: [],
        wire: ({ db, outbox, relay }) => ({
          serves: [],
          timers: [
            {
              name: "writer",
              everyMs: 20,
              run: () => {
                if (++ticks !== 1) return 0;
                db.transaction(() =>
                  outbox.add({
                    topic: "t",
                    ...toOutgoingEvent(EmptySchema, create(EmptySchema), { source: "shopmesh/ticker", subject: "s" }),
                  }),
                )();
                relay.notify();
                return 1;
              },
            },
          ],
          parts: {},
        }),
      },
      settings,
      { bus, spanExporter: exporter },
    );

    // Act
    await until("the event sent and idle ticks after it", () => published.length === 1 && ticks > 5);
    await service.stop();

    // Assert
    const tickSpans = exporter.spans.filter((span) => span.kind === SpanKind.INTERNAL);
    expect(tickSpans.map((span) => span.name)).toEqual(["tick writer"]);
    const send = exporter.spans.find((span) => span.kind === SpanKind.PRODUCER);
    expect(send?.parentSpanContext?.spanId).toBe(tickSpans[0]?.spanContext().spanId);
    expect(send?.spanContext().traceId).toBe(tickSpans[0]?.spanContext().traceId);
    expect(parseTraceparent(published[0]?.traceparent)?.spanId).toBe(send?.spanContext().spanId);
  });
});

describe("warnOnFailedExports", () => {
  it("when exports fail, then one warning names the endpoint and the error, and one more says when they work again", () => {
    const results: ExportResult[] = [
      { code: ExportResultCode.FAILED, error: new Error("connect ECONNREFUSED 127.0.0.1:9411") },
      { code: ExportResultCode.FAILED, error: new Error("connect ECONNREFUSED 127.0.0.1:9411") },
      { code: ExportResultCode.SUCCESS },
      { code: ExportResultCode.SUCCESS },
    ];
    const failing: SpanExporter = {
      export: (_spans, done) => done(results.shift()!),
      shutdown: async () => undefined,
    };
    const warnings: { fields: object; message: string }[] = [];
    const exporter = warnOnFailedExports(
      failing,
      { warn: (fields, message) => warnings.push({ fields, message }) },
      "http://127.0.0.1:9411/api/v2/spans",
    );
    const seen: ExportResult[] = [];

    for (let i = 0; i < 4; i++) exporter.export([], (result) => seen.push(result));

    expect(seen.map((r) => r.code)).toEqual([
      ExportResultCode.FAILED,
      ExportResultCode.FAILED,
      ExportResultCode.SUCCESS,
      ExportResultCode.SUCCESS,
    ]);
    expect(warnings).toEqual([
      {
        fields: { endpoint: "http://127.0.0.1:9411/api/v2/spans", spans: 0, err: "connect ECONNREFUSED 127.0.0.1:9411" },
        message: expect.stringContaining("spans could not be exported and are dropped"),
      },
      { fields: { endpoint: "http://127.0.0.1:9411/api/v2/spans" }, message: "spans are exported again" },
    ]);
  });
});
