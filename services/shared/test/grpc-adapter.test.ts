import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ReservationStatus } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { invalidArgument, notFound } from "#shared/errors.js";
import { inventoryServers, memoryLogger, until, rejection } from "./fixtures/grpc-harness.js";

const start = inventoryServers();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("grpc adapter: the four method kinds over a real socket", () => {
  it("when a unary RPC returns a plain init object, then the client receives the full message", async () => {
    const { client } = await start({
      getProduct: async (req) => ({ product: { productId: req.productId, name: "Espresso" } }),
    });

    const res = await client.getProduct({ productId: "sku-espresso" });

    expect(res.product?.productId).toBe("sku-espresso");
    expect(res.product?.name).toBe("Espresso");
  });

  it("when a server-streaming RPC yields N messages, then the client iterates all N and the stream ends", async () => {
    const { client } = await start({
      watchStock: async function* (req) {
        for (const [i, productId] of req.productIds.entries()) yield { stock: { productId, availableQuantity: i } };
      },
    });

    const seen: string[] = [];
    for await (const res of client.watchStock({ productIds: ["a", "b", "c", "d"] })) seen.push(res.stock?.productId ?? "");

    expect(seen).toEqual(["a", "b", "c", "d"]);
  });

  it("when a client streams import lines, then the server reads them all and answers once", async () => {
    const { client } = await start({
      importStock: async (requests) => {
        let total = 0;
        for await (const line of requests) total += line.quantity;
        return { acceptedCount: total }; // the fake reports the summed quantity
      },
    });
    async function* lines() {
      for (const quantity of [1, 2, 3, 4]) yield { productId: `p${quantity}`, quantity };
    }

    const res = await client.importStock(lines());

    expect(res.acceptedCount).toBe(10);
  });

  it("when requests and responses interleave on a bidi stream, then each reservation id comes back before the next is sent", async () => {
    const { client } = await start({
      reserveStock: async function* (requests) {
        for await (const req of requests) {
          yield { reservationId: req.reservationId, reservation: { reservationId: req.reservationId, status: ReservationStatus.HELD } };
        }
      },
    });
    const answered: string[] = [];
    async function* requests() {
      for (const id of ["r1", "r2", "r3"]) {
        yield { reservationId: id, orderId: `o-${id}` };
        // Ping-pong: the next request waits for this one's answer, which only a real bidi stream can give.
        await until(`${id} is answered`, () => answered.includes(id));
      }
    }

    for await (const res of client.reserveStock(requests())) answered.push(res.reservationId);

    expect(answered.sort()).toEqual(["r1", "r2", "r3"]);
  });
});

describe("grpc adapter: flow control and early exits on streams", () => {
  it("when a server stream outpaces a slow client, then every message still arrives in order", async () => {
    const description = "x".repeat(64 * 1024); // 200 × 64 KiB overflows HTTP/2 windows, so writes must wait for 'drain'
    const { client } = await start({
      listProducts: async () => ({}),
      watchStock: async function* () {
        for (let i = 0; i < 200; i++) yield { stock: { productId: `${i}:${description}` } };
      },
    });

    const ids: number[] = [];
    for await (const res of client.watchStock({})) {
      ids.push(Number(res.stock?.productId.split(":")[0]));
      if (ids.length % 50 === 0) await sleep(20);
    }

    expect(ids).toEqual([...Array(200).keys()]);
  });

  it("when the client leaves a bidi stream, then the server's request loop ends and its signal aborts", async () => {
    let serverCtx: HandlerContext | undefined;
    let loopEnded = false;
    const { client } = await start({
      reserveStock: async function* (requests, ctx) {
        serverCtx = ctx;
        try {
          for await (const req of requests) yield { reservationId: req.reservationId };
        } finally {
          loopEnded = true;
        }
      },
    });
    async function* endless() {
      for (let i = 0; ; i++) {
        yield { reservationId: `r${i}` };
        await sleep(10);
      }
    }

    for await (const res of client.reserveStock(endless())) if (res.reservationId === "r2") break;

    await until("the server's signal aborts", () => serverCtx?.signal.aborted === true);
    await until("the server's request loop ends", () => loopEnded);
  });
});

describe("grpc adapter: errors cross the boundary once", () => {
  it("when a handler throws invalidArgument, then the client gets INVALID_ARGUMENT naming the field", async () => {
    const { client } = await start({
      getProduct: async () => {
        throw invalidArgument("lines[0].quantity", "must be positive");
      },
    });

    const err = await rejection(client.getProduct({ productId: "x" }));

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe("lines[0].quantity: must be positive");
  });

  it("when a handler throws an unexpected error, then the client gets INTERNAL 'internal error' and the log gets the stack", async () => {
    const logger = memoryLogger();
    const { client } = await start(
      {
        getProduct: async () => {
          throw new Error("boom: secret db path");
        },
      },
      { logger },
    );

    const err = await rejection(client.getProduct({ productId: "x" }));

    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toBe("internal error");
    const logged = logger.lines.filter((l) => l.level === "error");
    expect(logged).toHaveLength(1);
    expect(logged[0]?.fields).toMatchObject({ method: "/shop.inventory.v1.InventoryService/GetProduct", code: "INTERNAL" });
    expect((logged[0]?.fields.err as Error | undefined)?.stack).toContain("boom: secret db path");
  });

  it("when a handler throws notFound, then NOT_FOUND passes through with its message and is logged once at info", async () => {
    const logger = memoryLogger();
    const { client } = await start(
      {
        getProduct: async (req) => {
          throw notFound(`product "${req.productId}"`);
        },
      },
      { logger },
    );

    const err = await rejection(client.getProduct({ productId: "sku-x" }));

    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toBe('product "sku-x" not found');
    expect(logger.lines).toEqual([expect.objectContaining({ level: "info", fields: expect.objectContaining({ code: "NOT_FOUND" }) })]);
  });

  it("when a server stream fails after two messages, then the client gets both and then the mapped error", async () => {
    const { client } = await start({
      watchStock: async function* () {
        yield { stock: { productId: "a" } };
        yield { stock: { productId: "b" } };
        throw notFound('product "c"');
      },
    });

    const seen: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const r of client.watchStock({})) seen.push(r.stock?.productId ?? "");
      })(),
    );

    expect(seen).toEqual(["a", "b"]);
    expect(err.code).toBe(status.NOT_FOUND);
  });

  it("when a downstream call fails with DEADLINE_EXCEEDED, then the caller sees DEADLINE_EXCEEDED, not INTERNAL", async () => {
    const downstream = await start({ getProduct: () => new Promise(() => {}) });
    const { client } = await start({
      getProduct: (req, ctx) => downstream.client.getProduct(req, { timeoutMs: 50, signal: ctx.signal }),
    });

    const err = await rejection(client.getProduct({ productId: "x" }, { timeoutMs: 5000 }));

    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
  });

  it("when a handler throws a ConnectError with metadata, then the code, message and metadata reach the client", async () => {
    const { client } = await start({
      getProduct: async () => {
        throw new ConnectError("stock is being counted", Code.Unavailable, { "retry-after-ms": "250" });
      },
    });

    const err = await rejection(client.getProduct({ productId: "x" }));

    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toBe("stock is being counted");
    expect(err.metadata.get("retry-after-ms")).toEqual(["250"]);
  });
});
