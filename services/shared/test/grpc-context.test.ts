import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { createClient, peerKey } from "#shared/grpc/index.js";
import { currentTrace } from "#shared/trace-context.js";
import { inventoryServers, memoryLogger, until, rejection } from "./fixtures/grpc-harness.js";

const start = inventoryServers();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const TRACEPARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;

describe("grpc adapter: Connect's HandlerContext on deadlines and cancellation", () => {
  it("when the client's deadline passes, then it gets DEADLINE_EXCEEDED and the server's signal aborts with that ConnectError", async () => {
    let serverCtx: HandlerContext | undefined;
    let timeoutMs: number | undefined;
    const { client } = await start({
      getProduct: async (_req, ctx) => {
        serverCtx = ctx;
        timeoutMs = ctx.timeoutMs();
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        return {};
      },
    });

    const err = await rejection(client.getProduct({ productId: "slow" }, { timeoutMs: 100 }));

    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    await until("the server's signal aborts", () => serverCtx?.signal.aborted === true);
    expect(timeoutMs).toBeGreaterThan(0);
    expect(timeoutMs).toBeLessThanOrEqual(100);
    expect(serverCtx?.signal.reason).toBeInstanceOf(ConnectError);
    expect((serverCtx?.signal.reason as ConnectError | undefined)?.code).toBe(Code.DeadlineExceeded);
  });

  it("when the client breaks out of a server stream, then the server's signal aborts with CANCELLED and its generator stops", async () => {
    let serverCtx: HandlerContext | undefined;
    let generatorStopped = false;
    const { client } = await start({
      watchStock: async function* (_req, ctx) {
        serverCtx = ctx;
        try {
          for (let i = 0; ; i++) {
            yield { stock: { productId: `p${i}` } };
            await sleep(10);
          }
        } finally {
          generatorStopped = true;
        }
      },
    });

    let received = 0;
    for await (const _ of client.watchStock({})) if (++received === 3) break;

    await until("the server's signal aborts", () => serverCtx?.signal.aborted === true);
    await until("the server's generator stops", () => generatorStopped);
    expect((serverCtx?.signal.reason as ConnectError | undefined)?.code).toBe(Code.Canceled);
  });

  it("when the client aborts its signal, then the call fails with CANCELLED", async () => {
    const { client } = await start({ getProduct: () => new Promise(() => {}) });
    const controller = new AbortController();

    const pending = rejection(client.getProduct({ productId: "x" }, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);

    expect((await pending).code).toBe(status.CANCELLED);
  });

  it("when server A calls server B with its signal and timeoutMs, then B's deadline is no later than A's", async () => {
    let deadlineAtA: number | undefined;
    let deadlineAtB: number | undefined;
    const b = await start({
      getProduct: async (req, ctx) => {
        deadlineAtB = Date.now() + (ctx.timeoutMs() ?? Infinity);
        return { product: { productId: req.productId } };
      },
    });
    const bClient = createClient(InventoryService, b.address);
    const { client } = await start({
      getProduct: async (req, ctx) => {
        deadlineAtA = Date.now() + (ctx.timeoutMs() ?? Infinity);
        return await bClient.getProduct(req, { signal: ctx.signal, timeoutMs: ctx.timeoutMs() });
      },
    });

    const res = await client.getProduct({ productId: "sku-1" }, { timeoutMs: 5000 });
    bClient.close();

    expect(res.product?.productId).toBe("sku-1");
    expect(deadlineAtA).toBeLessThan(Infinity);
    expect(deadlineAtB).toBeLessThanOrEqual(deadlineAtA! + 5);
  });

  it("when server A's client cancels, then A's call to server B is cancelled too", async () => {
    let bCtx: HandlerContext | undefined;
    const b = await start({
      getProduct: async (_req, ctx) => {
        bCtx = ctx;
        return await new Promise(() => {});
      },
    });
    const bClient = createClient(InventoryService, b.address);
    const { client } = await start({ getProduct: (req, ctx) => bClient.getProduct(req, { signal: ctx.signal }) });
    const controller = new AbortController();

    const pending = rejection(client.getProduct({ productId: "x" }, { signal: controller.signal }));
    await until("B is called", () => bCtx !== undefined);
    controller.abort();

    expect((await pending).code).toBe(status.CANCELLED);
    await until("B's signal aborts", () => bCtx?.signal.aborted === true);
    expect((bCtx?.signal.reason as ConnectError | undefined)?.code).toBe(Code.Canceled);
    bClient.close();
  });
});

describe("grpc adapter: headers, trailers, peer and trace", () => {
  it("when the client sends metadata, then requestHeader has it and the client gets the response header and trailer", async () => {
    let seenKey: string | null = null;
    let seenBinary: string | null = null;
    const { client } = await start({
      getProduct: async (_req, ctx) => {
        seenKey = ctx.requestHeader.get("idempotency-key");
        seenBinary = ctx.requestHeader.get("x-token-bin");
        ctx.responseHeader.set("x-served-by", "inventory");
        ctx.responseTrailer.set("x-stock-version", "7");
        return {};
      },
    });
    const metadata = new Metadata();
    metadata.set("idempotency-key", "key-123");
    metadata.set("x-token-bin", Buffer.from("secret"));
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;

    await client.getProduct({ productId: "x" }, { metadata, onHeader: (md) => (header = md), onTrailer: (md) => (trailer = md) });

    expect(seenKey).toBe("key-123");
    expect(Buffer.from(seenBinary ?? "", "base64").toString()).toBe("secret");
    expect(header?.get("x-served-by")).toEqual(["inventory"]);
    expect(trailer?.get("x-stock-version")).toEqual(["7"]);
  });

  it("when a handler reads the peer context value, then it is the client's address", async () => {
    let peer: string | undefined;
    const { client } = await start({
      getProduct: async (_req, ctx) => {
        peer = ctx.values.get(peerKey);
        return {};
      },
    });

    await client.getProduct({ productId: "x" });

    expect(peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("when a call carries traceparent, then the handler runs in that trace and the RPC's log line carries its trace id", async () => {
    const logger = memoryLogger();
    let traceId: string | undefined;
    const { client } = await start(
      {
        getProduct: async () => {
          await sleep(1); // still in the trace after an await
          traceId = currentTrace()?.traceId;
          return {};
        },
      },
      { logger },
    );

    await client.getProduct({ productId: "x" }, { metadata: { traceparent: TRACEPARENT } });

    expect(traceId).toBe(TRACE_ID);
    await until("the RPC is logged", () => logger.lines.length === 1);
    expect(logger.lines[0]?.fields).toMatchObject({ traceId: TRACE_ID, code: "OK" });
  });

  it("when a call carries no traceparent, then its handler and log line share a new trace", async () => {
    const logger = memoryLogger();
    const seen: (string | undefined)[] = [];
    const { client } = await start(
      {
        watchStock: async function* () {
          seen.push(currentTrace()?.traceId);
          yield {};
          seen.push(currentTrace()?.traceId);
        },
      },
      { logger },
    );

    for await (const _ of client.watchStock({}));

    expect(seen[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(seen[1]).toBe(seen[0]);
    await until("the RPC is logged", () => logger.lines.length === 1);
    expect(logger.lines[0]?.fields["traceId"]).toBe(seen[0]);
  });
});
