/**
 * The gateway's spans, in-process: the gateway (tracing on, an in-memory exporter) in front of an inventory server
 * built with the kit's adapter (its own spans), plaintext. One trace runs gateway SERVER → gateway CLIENT → inventory
 * SERVER, on the lean unary path (REST, Connect unary) and on the Connect transport (a REST server stream), with the
 * ids the `trace-id` header, the handler's trace context and the wire carry.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { bindServer, createGrpcServer, implement, type GrpcServer } from "#shared/grpc/index.js";
import { currentTrace, parseTraceparent, type TraceContext } from "#shared/trace-context.js";
import { createTracing, type Tracing } from "#shared/tracing/index.js";
import { startGateway, type Gateway } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

const gatewayExporter = new InMemorySpanExporter();
const inventoryExporter = new InMemorySpanExporter();
let inventoryTracing: Tracing;
let inventory: GrpcServer;
let gateway: Gateway;
/** handled is what the inventory handler saw of its trace: the context it ran in and the traceparent it was sent. */
let handled: { trace: TraceContext | undefined; traceparent: string | null }[] = [];

beforeAll(async () => {
  inventoryTracing = createTracing({ mode: "off" }, { serviceName: "inventory", exporter: inventoryExporter })!;
  inventory = createGrpcServer({
    services: [
      implement(InventoryService, {
        getProduct: (req, ctx) => {
          handled.push({ trace: currentTrace(), traceparent: ctx.requestHeader.get("traceparent") });
          if (req.productId === "sku-missing") throw new ConnectError("no such product", Code.NotFound);
          return { product: { productId: req.productId, name: "Espresso" } };
        },
        watchStock: async function* (_req, ctx) {
          handled.push({ trace: currentTrace(), traceparent: ctx.requestHeader.get("traceparent") });
          yield { stock: { productId: "sku-1", available: 3 } };
        },
      }),
    ],
    spans: inventoryTracing.spans,
  });
  const port = await bindServer(inventory.server, "127.0.0.1:0");
  const closed = "127.0.0.1:1";
  const config = loadConfig({
    MESH_INSECURE: "1",
    HOST: "127.0.0.1",
    PORT: "0",
    ORDER_ADDR: closed,
    PAYMENT_ADDR: closed,
    INVENTORY_ADDR: `127.0.0.1:${port}`,
    KAFKA_BROKERS: process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092",
    KAFKA_GROUP_IDS: "shopmesh-order",
  });
  gateway = await startGateway(config, { logger: pino({ level: "silent" }), spanExporter: gatewayExporter });
});

afterAll(async () => {
  await gateway?.stop(1_000);
  inventory?.server.forceShutdown();
  await inventoryTracing?.shutdown();
});

beforeEach(() => {
  handled = [];
  gatewayExporter.reset();
  inventoryExporter.reset();
});

/** spansOf flushes both pipelines until the gateway's SERVER span of `traceId` is there, and returns the trace's spans. */
async function spansOf(traceId: string): Promise<{ gateway: ReadableSpan[]; inventory: ReadableSpan[] }> {
  const ofTrace = (spans: ReadableSpan[]) => spans.filter((span) => span.spanContext().traceId === traceId);
  // The gateway's SERVER span ends on the response's 'close', which can follow the client's read by a tick.
  return await waitUntil(
    async () => {
      await gateway.tracing?.flush();
      await inventoryTracing.flush();
      const spans = { gateway: ofTrace(gatewayExporter.getFinishedSpans()), inventory: ofTrace(inventoryExporter.getFinishedSpans()) };
      return spans.gateway.some((span) => span.kind === SpanKind.SERVER) ? spans : undefined;
    },
    { timeoutMs: 5_000, intervalMs: 10, message: `the gateway's SERVER span of trace ${traceId}` },
  );
}

function one(spans: ReadableSpan[], kind: SpanKind): ReadableSpan {
  const matching = spans.filter((span) => span.kind === kind);
  expect(matching, `one ${SpanKind[kind]} span`).toHaveLength(1);
  return matching[0]!;
}

/** expectChain checks gateway SERVER → gateway CLIENT → inventory SERVER by parent links and the ids on the wire. */
function expectChain(spans: { gateway: ReadableSpan[]; inventory: ReadableSpan[] }, backendMethod: string) {
  const server = one(spans.gateway, SpanKind.SERVER);
  const client = one(spans.gateway, SpanKind.CLIENT);
  const backend = one(spans.inventory, SpanKind.SERVER);
  expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
  expect(backend.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
  expect(client.name).toBe(backendMethod);
  expect(backend.name).toBe(backendMethod);
  // The ids that crossed the wire: the CLIENT span is the traceparent inventory was sent, and inventory's SERVER span
  // is the context its handler ran in.
  expect(handled).toHaveLength(1);
  expect(parseTraceparent(handled[0]!.traceparent ?? undefined)?.spanId).toBe(client.spanContext().spanId);
  expect(backend.spanContext().spanId).toBe(handled[0]!.trace?.spanId);
  expect(server.resource.attributes["service.name"]).toBe("gateway");
  return { server, client, backend };
}

describe("gateway spans", () => {
  it("when a REST request carries a traceparent, then its route's SERVER span, the lean unary CLIENT span and inventory's SERVER span form one trace", async () => {
    const res = await fetch(`${gateway.url}/api/v1/products/sku-1`, { headers: { traceparent: TRACEPARENT } });
    expect(res.status).toBe(200);
    expect(res.headers.get("trace-id")).toBe(TRACE_ID);

    const { server, client } = expectChain(await spansOf(TRACE_ID), "shop.inventory.v1.InventoryService/GetProduct");
    expect(server.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(server.name).toBe("GET /api/v1/products/{product_id}");
    expect(server.attributes).toMatchObject({
      "http.request.method": "GET",
      "http.route": "/api/v1/products/{product_id}",
      "url.path": "/api/v1/products/sku-1",
      "http.response.status_code": 200,
    });
    expect(client.attributes["rpc.status_code"]).toBe("OK");
  });

  it("when a Connect call fails NOT_FOUND, then the SERVER span is named by the method, the CLIENT span is the error, and the trace id is the one answered", async () => {
    const res = await fetch(`${gateway.url}/shop.inventory.v1.InventoryService/GetProduct`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ productId: "sku-missing" }),
    });
    expect(res.status).toBe(404);
    const traceId = res.headers.get("trace-id")!;

    const { server, client, backend } = expectChain(await spansOf(traceId), "shop.inventory.v1.InventoryService/GetProduct");
    expect(server.parentSpanContext).toBeUndefined(); // no traceparent came: the gateway's span is the root
    expect(server.name).toBe("shop.inventory.v1.InventoryService/GetProduct");
    expect(server.attributes["http.response.status_code"]).toBe(404);
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(client.status).toEqual({ code: SpanStatusCode.ERROR, message: "no such product" });
    expect(backend.attributes["rpc.status_code"]).toBe("NOT_FOUND");
  });

  it("when a REST stream is served through the Connect transport, then its interceptor's CLIENT span ends with the stream", async () => {
    const res = await fetch(`${gateway.url}/api/v1/stock:watch?productIds=sku-1`, { headers: { traceparent: TRACEPARENT } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("sku-1"); // inventory ends the stream after one message

    const { server, client } = expectChain(await spansOf(TRACE_ID), "shop.inventory.v1.InventoryService/WatchStock");
    expect(server.name).toBe("GET /api/v1/stock:watch");
    expect(client.attributes["rpc.status_code"]).toBe("OK");
  });
});
