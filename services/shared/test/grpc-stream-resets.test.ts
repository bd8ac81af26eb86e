// Watchers that stop watching cancel their stream (RST_STREAM CANCEL). Node's HTTP/2 server treats more than 1,000
// such resets on one connection (then 33/s) as a "rapid reset" attack and closes the whole connection with GOAWAY
// INTERNAL_ERROR, failing every other call on it with "RST_STREAM 2 / Session closed with error code 2": the
// failures the P3 benchmark saw at 100/s, where every WatchOrder left after CONFIRMED. Over a real socket.
import { getEventListeners } from "node:events";
import { expect, it } from "vitest";
import type { StockLevel } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { stateWithin } from "../../../scripts/mesh/wait.js";
import { inventoryServers } from "./fixtures/grpc-harness.js";

const LEVEL = { productId: "sku-1", availableQuantity: 3 } as StockLevel;
const start = inventoryServers();

/** CANCELS is above Node's default reset burst (1,000), at a rate far above its default refill (33/s). */
const CANCELS = 1_500;

it("when a client cancels 1,500 streams on one connection, then its other streams and new calls keep working", async () => {
  // Arrange: one long-lived stream, then many short watches, each left after its first message (a cancel each).
  const harness = await start({
    async *watchStock(_request, ctx) {
      yield { stock: LEVEL };
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    },
  });
  const leave = new AbortController();
  const longLived = harness.client.watchStock({ productIds: ["sku-1"] }, { signal: leave.signal })[Symbol.asyncIterator]();
  expect((await longLived.next()).value).toMatchObject({ stock: { productId: "sku-1" } });

  // Act
  for (let i = 0; i < CANCELS; i++) {
    for await (const _ of harness.client.watchStock({ productIds: ["sku-1"] }, { timeoutMs: 10_000 })) break;
  }

  // Assert: the connection survived: a new watch answers, and the long-lived one is still open (not failed).
  for await (const change of harness.client.watchStock({ productIds: ["sku-1"] }, { timeoutMs: 10_000 })) {
    expect(change.stock?.productId).toBe("sku-1");
    break;
  }
  const next = longLived.next();
  expect(await stateWithin(next, 300)).toBe("pending");
  leave.abort();
  await next.catch(() => undefined);
}, 60_000);

it("when many calls share one AbortSignal, then each call removes its abort listener when it ends", async () => {
  // Arrange
  const harness = await start({
    async *watchStock() {
      yield { stock: LEVEL };
    },
    async getProduct(request) {
      return { product: { productId: request.productId } };
    },
  });
  const shared = new AbortController();
  const signal = shared.signal;

  // Act: unary calls, streams read to their end, and streams left after the first message.
  await Promise.all(Array.from({ length: 20 }, () => harness.client.getProduct({ productId: "sku-1" }, { signal })));
  for (let i = 0; i < 20; i++) for await (const _ of harness.client.watchStock({ productIds: ["sku-1"] }, { signal }));
  for (let i = 0; i < 20; i++) for await (const _ of harness.client.watchStock({ productIds: ["sku-1"] }, { signal })) break;

  // Assert: no listener outlives its call (a leak would grow with every call on a long-lived signal).
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(getEventListeners(signal, "abort")).toHaveLength(0);
});
