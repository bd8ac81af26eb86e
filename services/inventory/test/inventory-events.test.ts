import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StockCommitFailedSchema, StockCommittedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { ReservationStatus } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderCancelledSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { PaymentAuthorizedSchema, PaymentDeclinedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { decodeEvent, toOutgoingEvent, type EventBus, type IncomingEvent, type Subscription } from "#shared/events/event-bus.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { parseBrokers } from "#shared/events/kafka-client.js";
import { Topics } from "#shared/events/topics.js";
import { RESTOCK_REASON } from "../src/reservations.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { startTestInventory, type RunningInventory } from "./helpers.js";
import { awaitConsumersPositioned } from "./kafka-helpers.js";

const brokers = parseBrokers(process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092");

describe("inventory event consumers (real Kafka)", () => {
  let inventory: RunningInventory;
  let bus: EventBus;
  let watcher: Subscription;
  const inventoryEvents: IncomingEvent[] = [];

  beforeAll(async () => {
    inventory = await startTestInventory();
    await awaitConsumersPositioned(inventory.app.db);
    bus = createKafkaEventBus({ brokers, clientId: "inventory-test" });
    // A reader of the inventory topic, as another service would be (from the beginning, filtered per test by order).
    watcher = await bus.subscribe({
      groupId: `inventory-test-reader-${randomUUID()}`,
      topics: [Topics.inventoryEvents],
      fromBeginning: true,
      handle: async (event) => void inventoryEvents.push(event),
    });
  });
  afterAll(async () => {
    await watcher?.close();
    await bus?.close();
    await inventory?.stop();
  });

  async function reserve(orderId: string, productId: string, quantity: number): Promise<void> {
    for await (const response of inventory.client.reserveStock([{ reservationId: orderId, orderId, lines: [{ productId, quantity }] }])) {
      expect(response.errorCode).toBe("");
    }
  }
  const stockOf = async (productId: string) => (await inventory.client.getProduct({ productId })).product?.stock;
  const statusOf = async (reservationId: string) => (await inventory.client.getReservation({ reservationId })).reservation;
  const eventsAbout = (orderId: string) => inventoryEvents.filter((event) => event.subject === orderId);
  const inboxCount = (eventId: string) =>
    inventory.app.db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM inbox WHERE event_id = ?`).get(eventId)?.n ?? 0;
  const outboxTypes = (orderId: string) =>
    inventory.app.db
      .prepare<[string], { event_type: string }>(`SELECT event_type FROM outbox WHERE subject = ? ORDER BY seq`)
      .all(orderId)
      .map((row) => row.event_type);

  async function newProduct(quantity: number): Promise<string> {
    const productId = `sku-late-${randomUUID().slice(0, 8)}`;
    const price = { currencyCode: "EUR", amountMinor: 100n };
    await inventory.client.importStock([{ productId, quantity, name: productId, price }]);
    return productId;
  }

  /** publishHandled publishes events and waits until the inventory's inbox recorded each of them. */
  async function publishHandled(topic: string, events: ReturnType<typeof toOutgoingEvent>[]): Promise<void> {
    await bus.publish(topic, events);
    await waitUntil(() => events.every((event) => inboxCount(event.id) > 0), { message: "the events to be handled" });
  }

  const authorizedEvent = (orderId: string, paymentId: string) =>
    toOutgoingEvent(PaymentAuthorizedSchema, create(PaymentAuthorizedSchema, { paymentId, orderId }), {
      source: "inventory-test",
      subject: orderId,
    });

  it("when a payment is authorized, then the reservation is committed and StockCommitted is published", async () => {
    const orderId = `order-${randomUUID()}`;
    const before = await stockOf("sku-espresso");
    await reserve(orderId, "sku-espresso", 2);

    await bus.publish(Topics.paymentEvents, [
      toOutgoingEvent(
        PaymentAuthorizedSchema,
        create(PaymentAuthorizedSchema, { paymentId: "pay-1", orderId, authorizeTime: timestampNow() }),
        {
          source: "inventory-test",
          subject: orderId,
        },
      ),
    ]);

    await waitUntil(async () => (await statusOf(orderId))?.status === ReservationStatus.COMMITTED, {
      message: "the reservation to be committed",
    });
    expect(await stockOf("sku-espresso")).toMatchObject({
      availableQuantity: (before?.availableQuantity ?? 0) - 2,
      reservedQuantity: before?.reservedQuantity ?? 0,
    });
    const committed = await waitUntil(() => eventsAbout(orderId).find((event) => event.type === StockCommittedSchema.typeName), {
      message: "StockCommitted on shop.inventory.v1.events",
    });
    expect(decodeEvent(StockCommittedSchema, committed)).toMatchObject({ reservationId: orderId, orderId });
    expect(committed.source).toBe("shopmesh/inventory");
  });

  it("when the same payment event is delivered twice, then it has one effect", async () => {
    const orderId = `order-${randomUUID()}`;
    await reserve(orderId, "sku-mug", 3);
    const before = await stockOf("sku-mug");
    const authorized = toOutgoingEvent(PaymentAuthorizedSchema, create(PaymentAuthorizedSchema, { paymentId: "pay-2", orderId }), {
      source: "inventory-test",
      subject: orderId,
    });
    // A later event with the same key lands on the same partition, so once it is handled both copies were too.
    const marker = toOutgoingEvent(PaymentDeclinedSchema, create(PaymentDeclinedSchema, { paymentId: "pay-2b", orderId, reason: "late" }), {
      source: "inventory-test",
      subject: orderId,
    });

    await bus.publish(Topics.paymentEvents, [authorized]);
    await bus.publish(Topics.paymentEvents, [authorized, marker]);

    const handled = inventory.app.db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM inbox WHERE event_id = ?`);
    await waitUntil(() => (handled.get(marker.id)?.n ?? 0) > 0, { message: "the marker event to be handled" });
    expect(handled.get(authorized.id)?.n).toBe(1);
    expect((await statusOf(orderId))?.status).toBe(ReservationStatus.COMMITTED);
    expect(await stockOf("sku-mug")).toMatchObject({
      availableQuantity: before?.availableQuantity,
      reservedQuantity: (before?.reservedQuantity ?? 0) - 3,
    });
    const outboxRows = inventory.app.db
      .prepare<[string], { event_type: string }>(`SELECT event_type FROM outbox WHERE subject = ? ORDER BY seq`)
      .all(orderId)
      .map((row) => row.event_type);
    expect(outboxRows).toEqual(["shop.inventory.v1.StockReserved", "shop.inventory.v1.StockCommitted"]);
  });

  it("when a payment is declined, then the held stock is released; when a paid order is cancelled, then its stock is put back", async () => {
    const declinedOrder = `order-${randomUUID()}`;
    const paidOrder = `order-${randomUUID()}`;
    const before = await stockOf("sku-filter");
    await reserve(declinedOrder, "sku-filter", 1);
    await reserve(paidOrder, "sku-filter", 4);

    await bus.publish(Topics.paymentEvents, [
      toOutgoingEvent(PaymentDeclinedSchema, create(PaymentDeclinedSchema, { orderId: declinedOrder, reason: "card declined" }), {
        source: "inventory-test",
        subject: declinedOrder,
      }),
      toOutgoingEvent(PaymentAuthorizedSchema, create(PaymentAuthorizedSchema, { orderId: paidOrder }), {
        source: "inventory-test",
        subject: paidOrder,
      }),
    ]);
    await waitUntil(async () => (await statusOf(declinedOrder))?.status === ReservationStatus.RELEASED, {
      message: "the declined order's release",
    });
    await waitUntil(async () => (await statusOf(paidOrder))?.status === ReservationStatus.COMMITTED, {
      message: "the paid order's commit",
    });

    await bus.publish(Topics.orderEvents, [
      toOutgoingEvent(OrderCancelledSchema, create(OrderCancelledSchema, { orderId: paidOrder, reason: "customer", paymentId: "pay-3" }), {
        source: "inventory-test",
        subject: paidOrder,
      }),
    ]);
    await waitUntil(async () => (await statusOf(paidOrder))?.status === ReservationStatus.RELEASED, {
      message: "the cancelled order's restock",
    });

    expect(await stockOf("sku-filter")).toMatchObject({
      availableQuantity: before?.availableQuantity,
      reservedQuantity: before?.reservedQuantity,
    });
    const reason = inventory.app.db.prepare<[string], { reason: string }>(`SELECT reason FROM reservations WHERE reservation_id = ?`);
    expect(reason.get(paidOrder)?.reason).toBe(RESTOCK_REASON);
    expect(reason.get(declinedOrder)?.reason).toBe("payment declined: card declined");
    await waitUntil(() => eventsAbout(paidOrder).some((event) => event.type === "shop.inventory.v1.StockReleased"), {
      message: "StockReleased for the restock",
    });
  });

  it("when an order was cancelled while its reservation had expired, then a late PaymentAuthorized reserves nothing", async () => {
    // Arrange: the reservation expired, then the order was cancelled.
    const productId = await newProduct(5);
    const orderId = `order-${randomUUID()}`;
    await reserve(orderId, productId, 2);
    inventory.app.reservations.releaseExpired(0);
    const cancelled = toOutgoingEvent(OrderCancelledSchema, create(OrderCancelledSchema, { orderId, reason: "customer" }), {
      source: "inventory-test",
      subject: orderId,
    });
    await publishHandled(Topics.orderEvents, [cancelled]);

    // Act: the payment comes late.
    await publishHandled(Topics.paymentEvents, [authorizedEvent(orderId, "pay-late-1")]);

    // Assert: no stock was taken for the cancelled order.
    expect((await statusOf(orderId))?.status).toBe(ReservationStatus.RELEASED);
    expect(await stockOf(productId)).toMatchObject({ availableQuantity: 5, reservedQuantity: 0 });
    expect(outboxTypes(orderId)).toEqual(["shop.inventory.v1.StockReserved", "shop.inventory.v1.StockReleased"]);
  });

  it("when a late PaymentAuthorized finds the stock gone, then one StockCommitFailed names the payment, however often the payment event comes", async () => {
    // Arrange: the reservation expired and another order took every unit.
    const productId = await newProduct(3);
    const orderId = `order-${randomUUID()}`;
    const other = `order-${randomUUID()}`;
    await reserve(orderId, productId, 3);
    inventory.app.reservations.releaseExpired(0);
    await reserve(other, productId, 3);

    // Act: the payment event, redelivered, then replayed under a new event id.
    const authorized = authorizedEvent(orderId, "pay-late-2");
    await bus.publish(Topics.paymentEvents, [authorized]);
    await publishHandled(Topics.paymentEvents, [authorized, authorizedEvent(orderId, "pay-late-2")]);

    // Assert
    expect(outboxTypes(orderId)).toEqual([
      "shop.inventory.v1.StockReserved",
      "shop.inventory.v1.StockReleased",
      "shop.inventory.v1.StockCommitFailed",
    ]);
    expect(await stockOf(productId)).toMatchObject({ availableQuantity: 0, reservedQuantity: 3 });
    expect(inventory.app.reservations.get(orderId).reason).toMatch(/^stock commit failed: insufficient stock/);
    const failed = await waitUntil(() => eventsAbout(orderId).find((event) => event.type === StockCommitFailedSchema.typeName), {
      message: "StockCommitFailed on shop.inventory.v1.events",
    });
    expect(decodeEvent(StockCommitFailedSchema, failed)).toMatchObject({ orderId, reservationId: orderId, paymentId: "pay-late-2" });
    expect(failed.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });
});
