// In-process tests of the adapter's `stopping` option: what a stopping server does to the calls it has open and to
// the calls that arrive after, over a real socket with the typed client.
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus } from "#gen/grpc/health/v1/health_pb.js";
import type { StockLevel } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { createHealthClient } from "#shared/grpc/health-client.js";
import { startInventory, until, type InventoryHarness } from "./fixtures/grpc-harness.js";

const LEVEL = { productId: "sku-1", availableQuantity: 3 } as StockLevel;

let harness: InventoryHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

/** failureOf drains a stream (or awaits a call) and returns the status it ended with. */
async function failureOf(work: AsyncIterable<unknown> | Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    if (Symbol.asyncIterator in work) for await (const _ of work);
    else await work;
  } catch (error) {
    const { code, details } = error as { code: number; details: string };
    return { code, details };
  }
  throw new Error("expected the call to fail");
}

/** blocked resolves when `signal` aborts: a handler that waits for something that never comes. */
function blocked(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

describe("grpc server stopping", () => {
  it("when stopping aborts with a server stream open, then it ends at once with UNAVAILABLE shutting down and the handler's finally runs", async () => {
    // Arrange
    const stopping = new AbortController();
    let cleanedUp = false;
    harness = await startInventory(
      {
        async *watchStock(_request, ctx) {
          try {
            yield { stock: LEVEL };
            await blocked(ctx.signal);
          } finally {
            cleanedUp = true;
          }
        },
      },
      { stopping: stopping.signal },
    );
    const stream = harness.client.watchStock({ productIds: ["sku-1"] })[Symbol.asyncIterator]();
    expect((await stream.next()).value).toMatchObject({ stock: { productId: "sku-1" } });

    // Act
    stopping.abort();

    // Assert
    expect(await failureOf({ [Symbol.asyncIterator]: () => stream })).toEqual({ code: status.UNAVAILABLE, details: "shutting down" });
    await until("the handler's finally block ran", () => cleanedUp);
  });

  it("when stopping aborts with a bidi stream open, then it ends with UNAVAILABLE shutting down while the client still writes", async () => {
    const stopping = new AbortController();
    harness = await startInventory(
      {
        async *reserveStock(requests) {
          for await (const request of requests) yield { reservationId: request.reservationId };
        },
      },
      { stopping: stopping.signal },
    );
    let stopWriting!: () => void;
    const writing = new Promise<void>((resolve) => (stopWriting = resolve));
    async function* requests() {
      yield { reservationId: "r-1", orderId: "o-1", lines: [{ productId: "sku-1", quantity: 1 }] };
      await writing; // the client keeps its side open
    }
    const stream = harness.client.reserveStock(requests())[Symbol.asyncIterator]();
    expect((await stream.next()).value).toMatchObject({ reservationId: "r-1" });

    stopping.abort();

    expect(await failureOf({ [Symbol.asyncIterator]: () => stream })).toEqual({ code: status.UNAVAILABLE, details: "shutting down" });
    stopWriting();
  });

  it("when stopping aborts with a unary call in flight, then that call is left to finish and answers OK", async () => {
    const stopping = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered = false;
    harness = await startInventory(
      {
        async getProduct(request) {
          entered = true;
          await gate;
          return { product: { productId: request.productId, name: "still answered" } };
        },
      },
      { stopping: stopping.signal },
    );
    const call = harness.client.getProduct({ productId: "sku-1" });
    await until("the call reached its handler", () => entered);

    stopping.abort();
    release();

    expect((await call).product).toMatchObject({ productId: "sku-1", name: "still answered" });
  });

  it("when a call arrives after stopping aborted, then it is answered UNAVAILABLE shutting down without reaching its handler", async () => {
    const stopping = new AbortController();
    let handled = 0;
    harness = await startInventory(
      {
        getProduct() {
          handled += 1;
          return {};
        },
        async *watchStock() {
          handled += 1;
          yield { stock: LEVEL };
        },
      },
      { stopping: stopping.signal },
    );

    stopping.abort();

    expect(await failureOf(harness.client.getProduct({ productId: "sku-1" }))).toEqual({
      code: status.UNAVAILABLE,
      details: "shutting down",
    });
    expect(await failureOf(harness.client.watchStock({ productIds: [] }))).toEqual({ code: status.UNAVAILABLE, details: "shutting down" });
    expect(handled).toBe(0);
  });

  it("when stopping aborts with a health Watch open, then the watcher saw NOT_SERVING and its stream ends with UNAVAILABLE shutting down", async () => {
    // Arrange
    const stopping = new AbortController();
    harness = await startInventory({}, { stopping: stopping.signal });
    const health = createHealthClient(harness.address);
    const seen: string[] = [];
    const watching = failureOf(
      (async function* () {
        for await (const response of health.watch({ service: "" })) {
          seen.push(HealthCheckResponse_ServingStatus[response.status] ?? "?");
          yield response;
        }
      })(),
    );
    await until("the watcher saw SERVING", () => seen.includes("SERVING"));

    // Act: what the kit's stop does first, then the abort
    harness.health.setAll("NOT_SERVING");
    await until("the watcher saw NOT_SERVING", () => seen.includes("NOT_SERVING"));
    stopping.abort();

    // Assert
    expect(await watching).toEqual({ code: status.UNAVAILABLE, details: "shutting down" });
    expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
    health.close();
  });
});
