import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentAuthorizedSchema, PaymentDeclinedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { toOutgoingEvent, type EventBus, type IncomingEvent, type Subscription } from "#shared/events/event-bus.js";
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
});
