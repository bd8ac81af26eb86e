import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReservationStatus, type ReserveStockResponse } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ReserveStockRequestSchema } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { Topics } from "#shared/events/topics.js";
import { SEED_CATALOG } from "../src/domain/catalog-seed.js";
import { checkHealth } from "#shared/grpc/health-client.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { AsyncQueue, recordingBus, startTestInventory, type RunningInventory } from "./helpers.js";

type ReserveInit = MessageInitShape<typeof ReserveStockRequestSchema>;

describe("inventory gRPC service (in-process, port 0)", () => {
  const bus = recordingBus();
  let inventory: RunningInventory;

  beforeAll(async () => {
    inventory = await startTestInventory({}, { bus });
  });
  afterAll(async () => {
    await inventory?.stop();
  });

  const stockOf = async (productId: string) => (await inventory.client.getProduct({ productId })).product?.stock;

  it("when the service has started, then health reports SERVING for the server and InventoryService", async () => {
    expect(await checkHealth(inventory.app.address)).toBe("SERVING");
    expect(await checkHealth(inventory.app.address, { service: "shop.inventory.v1.InventoryService" })).toBe("SERVING");
  });

  it("when the catalog is listed page by page, then every seeded product comes once, ordered by id", async () => {
    const ids: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await inventory.client.listProducts({ pageSize: 3, pageToken });
      expect(page.products.length).toBeLessThanOrEqual(3);
      ids.push(...page.products.map((product) => product.productId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");
    expect(ids).toEqual(SEED_CATALOG.map((product) => product.productId).sort());
    expect(pages).toBe(Math.ceil(SEED_CATALOG.length / 3));
  });

  it("when a product is listed, then it carries its EUR price in minor units and its stock", async () => {
    const { products } = await inventory.client.listProducts({});
    const espresso = products.find((product) => product.productId === "sku-espresso");
    expect(espresso?.price).toMatchObject({ currencyCode: "EUR", amountMinor: 1890n });
    expect(espresso?.stock).toMatchObject({ productId: "sku-espresso", availableQuantity: 100, reservedQuantity: 0 });
  });

  it("when the page token is not one the server issued, then it is INVALID_ARGUMENT naming page_token", async () => {
    await expect(inventory.client.listProducts({ pageToken: "garbage!" })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^page_token:/),
    });
  });

  it("when an unknown product is asked for, then it is NOT_FOUND", async () => {
    await expect(inventory.client.getProduct({ productId: "sku-nope" })).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: 'product "sku-nope" not found',
    });
  });

  it("when reservations are multiplexed on one stream, then each is answered by id, all or nothing, and a resend does not reserve twice", async () => {
    const requests = new AsyncQueue<ReserveInit>();
    const responses = inventory.client.reserveStock(requests)[Symbol.asyncIterator]();
    const ask = async (request: ReserveInit): Promise<ReserveStockResponse> => {
      requests.push(request);
      const next = await responses.next();
      if (next.done) throw new Error("the stream ended");
      return next.value;
    };
    const held = {
      reservationId: "r-mux-1",
      orderId: "o-mux-1",
      lines: [
        { productId: "sku-kettle", quantity: 2 },
        { productId: "sku-mug", quantity: 1 },
      ],
    };

    const first = await ask(held);
    const outOfStock = await ask({
      reservationId: "r-mux-2",
      orderId: "o-mux-2",
      lines: [
        { productId: "sku-kettle", quantity: 1 },
        { productId: "sku-grinder", quantity: 4 },
      ],
    });
    const invalid = await ask({ reservationId: "r-mux-3", orderId: "o-mux-3", lines: [{ productId: "sku-kettle", quantity: 0 }] });
    const unknown = await ask({ reservationId: "r-mux-4", orderId: "o-mux-4", lines: [{ productId: "sku-nope", quantity: 1 }] });
    const resend = await ask(held);
    const conflicting = await ask({ ...held, lines: [{ productId: "sku-kettle", quantity: 5 }] });
    requests.end();
    expect((await responses.next()).done).toBe(true);

    expect(first).toMatchObject({
      reservationId: "r-mux-1",
      errorCode: "",
      reservation: { status: ReservationStatus.HELD, orderId: "o-mux-1" },
    });
    expect(first.reservation?.lines.map((line) => [line.productId, line.quantity, line.unitPrice?.amountMinor])).toEqual([
      ["sku-kettle", 2, 5900n],
      ["sku-mug", 1, 1490n],
    ]);
    expect(outOfStock).toMatchObject({
      reservationId: "r-mux-2",
      errorCode: "FAILED_PRECONDITION",
      errorMessage: expect.stringContaining('product "sku-grinder" has 3 available, 4 requested'),
      reservation: { status: ReservationStatus.REJECTED },
    });
    expect(invalid).toMatchObject({
      reservationId: "r-mux-3",
      errorCode: "INVALID_ARGUMENT",
      errorMessage: "lines[0].quantity: must be between 1 and 1000",
    });
    expect(unknown).toMatchObject({
      reservationId: "r-mux-4",
      errorCode: "NOT_FOUND",
      errorMessage: expect.stringContaining('"sku-nope"'),
    });
    expect(resend).toMatchObject({ reservationId: "r-mux-1", errorCode: "", reservation: { status: ReservationStatus.HELD } });
    expect(resend.reservation?.createTime).toEqual(first.reservation?.createTime);
    expect(conflicting).toMatchObject({
      reservationId: "r-mux-1",
      errorCode: "INVALID_ARGUMENT",
      errorMessage: expect.stringMatching(/^reservation_id:/),
    });

    // Reserved once, not twice; the rejected request changed nothing.
    expect(await stockOf("sku-kettle")).toMatchObject({ availableQuantity: 98, reservedQuantity: 2 });
    expect(await stockOf("sku-grinder")).toMatchObject({ availableQuantity: 3, reservedQuantity: 0 });
    const reserved = await waitUntil(
      () => {
        const relayed = bus.published.filter(({ topic, event }) => topic === Topics.inventoryEvents && event.subject === "o-mux-1");
        // An empty list is "not yet": the relay publishes after the reservation's commit.
        return relayed.length > 0 && relayed;
      },
      { message: "StockReserved to be relayed" },
    );
    expect(reserved.map(({ event }) => event.type)).toEqual(["shop.inventory.v1.StockReserved"]);
  });

  it("when a held reservation is released, then its stock comes back, a second release is a no-op", async () => {
    const reserve = inventory.client.reserveStock([
      { reservationId: "r-rel", orderId: "o-rel", lines: [{ productId: "sku-decaf", quantity: 4 }] },
    ]);
    for await (const response of reserve) expect(response.reservation?.status).toBe(ReservationStatus.HELD);
    expect(await stockOf("sku-decaf")).toMatchObject({ availableQuantity: 96, reservedQuantity: 4 });

    const released = await inventory.client.releaseReservation({ reservationId: "r-rel", reason: "order not stored" });
    expect(released.reservation?.status).toBe(ReservationStatus.RELEASED);
    expect(await stockOf("sku-decaf")).toMatchObject({ availableQuantity: 100, reservedQuantity: 0 });
    const again = await inventory.client.releaseReservation({ reservationId: "r-rel" });
    expect(again.reservation?.status).toBe(ReservationStatus.RELEASED);
    expect(await stockOf("sku-decaf")).toMatchObject({ availableQuantity: 100, reservedQuantity: 0 });
    expect((await inventory.client.getReservation({ reservationId: "r-rel" })).reservation?.status).toBe(ReservationStatus.RELEASED);
    await expect(inventory.client.getReservation({ reservationId: "r-none" })).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it("when 1,000 lines are imported with 2 bad ones, then the bad ones are named and the rest applied", async () => {
    const before = await stockOf("sku-filters");
    const lines = Array.from({ length: 1000 }, (_, i) => {
      if (i === 5) return { productId: "sku-tamper", quantity: 7, name: "Tamper", price: { currencyCode: "EUR", amountMinor: 3500n } };
      if (i === 250) return { productId: "sku-filters", quantity: 0 };
      if (i === 777) return { productId: "sku-unknown", quantity: 3 };
      return { productId: "sku-filters", quantity: 2 };
    });
    const started = performance.now();
    const summary = await inventory.client.importStock(lines);
    const elapsedMs = performance.now() - started;

    expect(summary).toMatchObject({ acceptedCount: 998, rejectedCount: 2, createdCount: 1 });
    expect(summary.errors.map((error) => [error.lineIndex, error.productId, error.message])).toEqual([
      [250, "sku-filters", "quantity: must be positive"],
      [777, "sku-unknown", 'name: is required to create unknown product "sku-unknown"'],
    ]);
    expect(await stockOf("sku-filters")).toMatchObject({ availableQuantity: (before?.availableQuantity ?? 0) + 997 * 2 });
    const tamper = (await inventory.client.getProduct({ productId: "sku-tamper" })).product;
    expect(tamper).toMatchObject({ name: "Tamper", price: { currencyCode: "EUR", amountMinor: 3500n }, stock: { availableQuantity: 7 } });
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it("when stock is watched, then the current levels come first and a reservation's change follows", async () => {
    const controller = new AbortController();
    const watch = inventory.client
      .watchStock({ productIds: ["sku-espresso", "sku-mug"] }, { signal: controller.signal })
      [Symbol.asyncIterator]();
    const first = await watch.next();
    const second = await watch.next();
    const current = [first.value?.stock, second.value?.stock];
    expect(current.map((level) => level?.productId).sort()).toEqual(["sku-espresso", "sku-mug"]);
    const espressoBefore = current.find((level) => level?.productId === "sku-espresso");

    for await (const response of inventory.client.reserveStock([
      { reservationId: "r-watch", orderId: "o-watch", lines: [{ productId: "sku-espresso", quantity: 3 }] },
    ])) {
      expect(response.errorCode).toBe("");
    }
    const change = await watch.next();
    expect(change.value?.stock).toMatchObject({
      productId: "sku-espresso",
      availableQuantity: (espressoBefore?.availableQuantity ?? 0) - 3,
      reservedQuantity: (espressoBefore?.reservedQuantity ?? 0) + 3,
    });
    await watch.return?.();
    controller.abort();
    await waitUntil(() => inventory.app.feed.listenerCount() === 0, { message: "the watch to unsubscribe after the client left" });
  });

  it("when an unknown product is watched, then the call fails NOT_FOUND before streaming", async () => {
    const watch = inventory.client.watchStock({ productIds: ["sku-espresso", "sku-nope"] })[Symbol.asyncIterator]();
    await expect(watch.next()).rejects.toMatchObject({ code: status.NOT_FOUND, details: expect.stringContaining('"sku-nope"') });
  });
});

describe("inventory reservation expiry", () => {
  it("when a held reservation outlives RESERVATION_TTL_MS, then the sweep releases it", async () => {
    const inventory = await startTestInventory({ RESERVATION_TTL_MS: "60000" }, { bus: recordingBus() });
    try {
      for await (const response of inventory.client.reserveStock([
        { reservationId: "r-ttl", orderId: "o-ttl", lines: [{ productId: "sku-mug", quantity: 5 }] },
      ])) {
        expect(response.errorCode).toBe("");
      }
      expect(inventory.app.sweep()).toBe(0); // not yet expired
      inventory.app.db.prepare(`UPDATE reservations SET created_ms = created_ms - 60000 WHERE reservation_id = 'r-ttl'`).run();
      expect(inventory.app.sweep()).toBe(1);
      const reservation = (await inventory.client.getReservation({ reservationId: "r-ttl" })).reservation;
      expect(reservation?.status).toBe(ReservationStatus.RELEASED);
      expect((await inventory.client.getProduct({ productId: "sku-mug" })).product?.stock).toMatchObject({
        availableQuantity: 100,
        reservedQuantity: 0,
      });
    } finally {
      await inventory.stop();
    }
  });

  it("when the service stops while a watch is open, then the stream ends and the stop does not wait for the grace period", async () => {
    const inventory = await startTestInventory({}, { bus: recordingBus() });
    const watch = inventory.client.watchStock({})[Symbol.asyncIterator]();
    await watch.next();
    const started = performance.now();
    await inventory.stop();
    expect(performance.now() - started).toBeLessThan(4_000);
  });
});
