import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { inventoryServers, rejection, until } from "./fixtures/grpc-harness.js";

const start = inventoryServers();

const never = () => new Promise<never>(() => {});

describe("grpc adapter: the stopping signal", () => {
  it("when stopping aborts with a server stream open, then it ends UNAVAILABLE 'shutting down' and the handler's finally runs", async () => {
    const stopping = new AbortController();
    let serverCtx: HandlerContext | undefined;
    let finallyRan = false;
    const { client } = await start(
      {
        watchStock: async function* (_req, ctx) {
          serverCtx = ctx;
          try {
            yield { stock: { productId: "a" } };
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          } finally {
            finallyRan = true;
          }
        },
      },
      { stopping: stopping.signal },
    );
    const received: string[] = [];
    const ended = rejection(
      (async () => {
        for await (const res of client.watchStock({})) received.push(res.stock?.productId ?? "");
      })(),
    );
    await until("the first message arrives", () => received.length === 1);

    stopping.abort();

    const err = await ended;
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toBe("shutting down");
    await until("the handler's finally runs", () => finallyRan);
    expect(serverCtx?.signal.reason).toBeInstanceOf(ConnectError);
    expect((serverCtx?.signal.reason as ConnectError | undefined)?.code).toBe(Code.Unavailable);
  });

  it("when stopping aborts, then a bidi stream whose handler ignores the signal still ends at once", async () => {
    const stopping = new AbortController();
    let opened = false;
    const { client } = await start(
      {
        reserveStock: async function* () {
          opened = true;
          yield await never();
        },
      },
      { stopping: stopping.signal },
    );
    async function* requests() {
      yield { reservationId: "r1" };
      await never();
    }
    const ended = rejection(
      (async () => {
        for await (const _ of client.reserveStock(requests()));
      })(),
    );
    await until("the stream is open", () => opened);

    stopping.abort();

    expect(await ended).toMatchObject({ code: status.UNAVAILABLE, details: "shutting down" });
  });

  it("when stopping aborts while a unary call runs, then that call still finishes with its answer", async () => {
    const stopping = new AbortController();
    let release: () => void = () => {};
    let started = false;
    const { client } = await start(
      {
        getProduct: async (req) => {
          started = true;
          await new Promise<void>((resolve) => (release = resolve));
          return { product: { productId: req.productId } };
        },
      },
      { stopping: stopping.signal },
    );
    const pending = client.getProduct({ productId: "sku-1" });
    await until("the call has started", () => started);

    stopping.abort();
    release();

    expect((await pending).product?.productId).toBe("sku-1");
  });

  it("when a call starts after stopping aborted, then it is answered UNAVAILABLE 'shutting down', whatever its kind", async () => {
    const stopping = new AbortController();
    let handled = 0;
    const { client } = await start(
      {
        getProduct: async () => {
          handled++;
          return {};
        },
        watchStock: async function* () {
          handled++;
          yield {};
        },
      },
      { stopping: stopping.signal },
    );
    stopping.abort();

    const unary = await rejection(client.getProduct({ productId: "x" }));
    const stream = await rejection(
      (async () => {
        for await (const _ of client.watchStock({}));
      })(),
    );

    expect(unary).toMatchObject({ code: status.UNAVAILABLE, details: "shutting down" });
    expect(stream).toMatchObject({ code: status.UNAVAILABLE, details: "shutting down" });
    expect(handled).toBe(0);
  });
});
