import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StockCommitFailedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { OrderCancelledSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { OrderService, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentAuthorizedSchema, PaymentDeclinedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { decodeEvent, toOutgoingEvent, type EventBus, type IncomingEvent, type Subscription } from "#shared/events/event-bus.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { parseBrokers } from "#shared/events/kafka-client.js";
import { Topics } from "#shared/events/topics.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { FakeInventory, quietLogger, startTestOrderService, type TestOrderService } from "./helpers.js";

let inventory: FakeInventory;
let service: TestOrderService;
let client: ServiceClient<typeof OrderService>;
let testBus: EventBus;
const subscriptions: Subscription[] = [];

function inboxHas(eventId: string): boolean {
  return service.db.prepare(`SELECT 1 FROM inbox WHERE event_id = ?`).get(eventId) !== undefined;
}

function paymentEvent(
  schema: typeof PaymentAuthorizedSchema | typeof PaymentDeclinedSchema,
  init: { orderId: string } & Record<string, unknown>,
) {
  const message = create(schema as typeof PaymentAuthorizedSchema, init);
  return toOutgoingEvent(schema as typeof PaymentAuthorizedSchema, message, { source: "test/payment", subject: init.orderId });
}

/**
 * settle publishes a marker event about `orderId` and waits until the order service recorded it. Events of one key
 * share a partition, so once the marker is handled everything published before it for that key was too. At start
 * it also proves the fresh consumer group (KAFKA_FROM_BEGINNING=false) is positioned, whatever the join timing.
 */
async function settle(orderId: string): Promise<void> {
  await waitUntil(
    async () => {
      const marker = paymentEvent(PaymentDeclinedSchema, { paymentId: "marker", orderId, reason: "marker" });
      await testBus.publish(Topics.paymentEvents, [marker]);
      // A marker not handled within 3 s throws, which counts as "not yet": the next round publishes a new one.
      return waitUntil(() => inboxHas(marker.id), { timeoutMs: 3_000, message: "the marker to be handled" });
    },
    { timeoutMs: 30_000, message: `the order service to consume events about ${orderId}` },
  );
}

function stockCommitFailed(orderId: string, paymentId: string) {
  const message = create(StockCommitFailedSchema, { reservationId: orderId, orderId, paymentId, reason: "insufficient stock: test" });
  return toOutgoingEvent(StockCommitFailedSchema, message, { source: "test/inventory", subject: orderId });
}

/** deliverStockCommitFailed publishes StockCommitFailed and waits until the order service handled it. */
async function deliverStockCommitFailed(event: ReturnType<typeof stockCommitFailed>): Promise<void> {
  await testBus.publish(Topics.inventoryEvents, [event]);
  await waitUntil(() => inboxHas(event.id), { timeoutMs: 30_000, message: "StockCommitFailed to be handled" });
}

/** orderEventsAbout reads the order topic from the beginning until `done` holds for the events about `orderId`. */
async function orderEventsAbout(orderId: string, done: (events: IncomingEvent[]) => boolean): Promise<IncomingEvent[]> {
  const seen: IncomingEvent[] = [];
  subscriptions.push(
    await testBus.subscribe({
      groupId: `order-test-reader-${crypto.randomUUID()}`,
      topics: [Topics.orderEvents],
      fromBeginning: true,
      handle: async (event) => {
        if (event.subject === orderId) seen.push(event);
      },
    }),
  );
  await waitUntil(() => done(seen), { timeoutMs: 30_000, message: `order events about ${orderId}` });
  return seen;
}

async function newOrder(): Promise<string> {
  const { order } = await client.createOrder({
    customerId: "kafka-cust",
    lines: [{ productId: "sku-espresso", quantity: 1 }],
    cardToken: "tok_visa",
  });
  return order!.orderId;
}

beforeAll(async () => {
  inventory = new FakeInventory();
  await inventory.start();
  service = await startTestOrderService({
    INVENTORY_ADDR: inventory.address,
    EVENT_RETRY_ATTEMPTS: "2",
    EVENT_RETRY_INITIAL_MS: "50",
  });
  client = createClient(OrderService, service.address, { defaultTimeoutMs: 10_000 });
  testBus = createKafkaEventBus({
    brokers: parseBrokers(process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092"),
    clientId: "order-test",
    logger: quietLogger,
  });
});

afterAll(async () => {
  for (const s of subscriptions) await s.close();
  await testBus?.close();
  client?.close();
  await service?.dispose();
  inventory?.stop();
});

describe("the order service on Kafka", () => {
  it("when PaymentAuthorized is published, then the order is CONFIRMED and OrderConfirmed is published; a redelivery changes nothing", async () => {
    // Arrange: the consumer is positioned, and an order awaits payment.
    await settle(`warm-up-${crypto.randomUUID()}`);
    const { order } = await client.createOrder({
      customerId: "kafka-cust",
      lines: [{ productId: "sku-espresso", quantity: 1 }],
      cardToken: "tok_visa",
    });
    const orderId = order!.orderId;

    // Act: the same PaymentAuthorized twice (at-least-once delivery).
    const authorized = paymentEvent(PaymentAuthorizedSchema, { paymentId: "pay-k1", orderId, authorizeTime: timestampNow() });
    await testBus.publish(Topics.paymentEvents, [authorized]);
    await testBus.publish(Topics.paymentEvents, [authorized]);
    await settle(orderId);

    // Assert: one transition, one OrderConfirmed, and it reached Kafka.
    const { order: after } = await client.getOrder({ orderId });
    expect(after?.status).toBe(OrderStatus.CONFIRMED);
    expect(after?.paymentId).toBe("pay-k1");
    expect(after?.history.map((h) => h.status)).toEqual([OrderStatus.AWAITING_PAYMENT, OrderStatus.CONFIRMED]);
    const confirmedRows = service.db
      .prepare(`SELECT state FROM outbox WHERE subject = ? AND event_type = 'shop.order.v1.OrderConfirmed'`)
      .all(orderId) as { state: string }[];
    expect(confirmedRows).toHaveLength(1);

    const seen: IncomingEvent[] = [];
    subscriptions.push(
      await testBus.subscribe({
        groupId: `order-test-reader-${crypto.randomUUID()}`,
        topics: [Topics.orderEvents],
        fromBeginning: true,
        handle: async (event) => {
          if (event.subject === orderId) seen.push(event);
        },
      }),
    );
    await waitUntil(() => seen.some((e) => e.type === "shop.order.v1.OrderConfirmed"), {
      timeoutMs: 30_000,
      message: "OrderConfirmed on Kafka",
    });
    expect(seen.map((e) => e.type)).toEqual(["shop.order.v1.OrderCreated", "shop.order.v1.OrderConfirmed"]);
    expect(seen[1]?.source).toBe("shopmesh/order");
  });

  it("when StockCommitFailed arrives for a CONFIRMED order, then it becomes CANCELLED for want of stock and OrderCancelled names the payment to refund; a redelivery changes nothing", async () => {
    // Arrange: a paid, confirmed order; the inventory topic's partitions are read too.
    await settle(`warm-up-${crypto.randomUUID()}`);
    await deliverStockCommitFailed(stockCommitFailed(`warm-up-${crypto.randomUUID()}`, "none"));
    const orderId = await newOrder();
    await testBus.publish(Topics.paymentEvents, [paymentEvent(PaymentAuthorizedSchema, { paymentId: "pay-s1", orderId })]);
    await settle(orderId);

    // Act: inventory could not take the stock, and says so twice (at-least-once).
    const failed = stockCommitFailed(orderId, "pay-s1");
    await deliverStockCommitFailed(failed);
    await testBus.publish(Topics.inventoryEvents, [failed]);
    await deliverStockCommitFailed(stockCommitFailed(`marker-${crypto.randomUUID()}`, "none"));

    // Assert
    const { order } = await client.getOrder({ orderId });
    expect(order).toMatchObject({ status: OrderStatus.CANCELLED, paymentId: "pay-s1", cancelReason: "stock no longer available" });
    expect(order?.history.map((h) => h.status)).toEqual([OrderStatus.AWAITING_PAYMENT, OrderStatus.CONFIRMED, OrderStatus.CANCELLED]);
    const events = await orderEventsAbout(orderId, (seen) => seen.some((e) => e.type === OrderCancelledSchema.typeName));
    const cancelled = events.filter((e) => e.type === OrderCancelledSchema.typeName);
    expect(cancelled).toHaveLength(1);
    expect(decodeEvent(OrderCancelledSchema, cancelled[0]!)).toMatchObject({
      orderId,
      paymentId: "pay-s1",
      reason: "stock no longer available",
    });
  });

  it("when StockCommitFailed arrives before the order heard of the payment, then the order is CANCELLED with the payment to refund, and the later PaymentAuthorized leaves it so", async () => {
    // Arrange
    await settle(`warm-up-${crypto.randomUUID()}`);
    await deliverStockCommitFailed(stockCommitFailed(`warm-up-${crypto.randomUUID()}`, "none"));
    const orderId = await newOrder();

    // Act: the stock event first, then the payment event it came from.
    await deliverStockCommitFailed(stockCommitFailed(orderId, "pay-s2"));
    await testBus.publish(Topics.paymentEvents, [paymentEvent(PaymentAuthorizedSchema, { paymentId: "pay-s2", orderId })]);
    await settle(orderId);

    // Assert
    const { order } = await client.getOrder({ orderId });
    expect(order).toMatchObject({ status: OrderStatus.CANCELLED, paymentId: "pay-s2", cancelReason: "stock no longer available" });
    expect(order?.history.map((h) => h.status)).toEqual([OrderStatus.AWAITING_PAYMENT, OrderStatus.CANCELLED]);
    const events = await orderEventsAbout(orderId, (seen) => seen.some((e) => e.type === OrderCancelledSchema.typeName));
    expect(events.map((e) => e.type)).toEqual(["shop.order.v1.OrderCreated", OrderCancelledSchema.typeName]);
    expect(decodeEvent(OrderCancelledSchema, events[1]!).paymentId).toBe("pay-s2");
  });
});
