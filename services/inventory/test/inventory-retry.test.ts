// Inventory against the real broker with its own retry policy: EVENT_RETRY_* decides how often a failing event is
// tried before it is dead-lettered, as it does for the other services (inventory used to ignore it).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentAuthorizedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import type { EventBus, IncomingEvent, Subscription } from "#shared/events/event-bus.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { parseBrokers } from "#shared/events/kafka-client.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { startTestInventory, type RunningInventory } from "./helpers.js";
import { awaitConsumersPositioned } from "./kafka-helpers.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";

const brokers = parseBrokers(process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092");

describe("inventory retry policy (real Kafka)", () => {
  const groupId = `inventory-retry-test-${randomUUID()}`;
  let inventory: RunningInventory;
  let bus: EventBus;
  let deadLetters: Subscription;
  const dead: IncomingEvent[] = [];

  beforeAll(async () => {
    inventory = await startTestInventory({
      KAFKA_GROUP_ID: groupId,
      EVENT_RETRY_ATTEMPTS: "2",
      EVENT_RETRY_INITIAL_MS: "10",
      EVENT_RETRY_MAX_MS: "10",
    });
    await awaitConsumersPositioned(inventory.app.db);
    bus = createKafkaEventBus({ brokers, clientId: "inventory-retry-test" });
    deadLetters = await bus.subscribe({
      groupId: `inventory-retry-test-dlq-${randomUUID()}`,
      topics: [dlqTopicOf(Topics.paymentEvents)],
      fromBeginning: true,
      handle: async (event) => void dead.push(event),
    });
  });
  afterAll(async () => {
    await deadLetters?.close();
    await bus?.close();
    await inventory?.stop();
  });

  it("when EVENT_RETRY_ATTEMPTS is 2 and an event keeps failing, then it is tried twice and dead-lettered by inventory's group", async () => {
    // Arrange: a PaymentAuthorized whose body is not a protobuf message, so its handler throws every time
    const orderId = `order-${randomUUID()}`;
    const broken = {
      id: randomUUID(),
      type: PaymentAuthorizedSchema.typeName,
      source: "inventory-retry-test",
      subject: orderId,
      time: new Date(),
      data: new Uint8Array([0xff, 0xff, 0xff, 0xff]),
    };

    // Act
    await bus.publish(Topics.paymentEvents, [broken]);

    // Assert
    const letter = await waitUntil(() => dead.find((event) => event.id === broken.id), { message: "the broken event on the DLQ" });
    expect(letter.headers).toMatchObject({ dlq_consumer: groupId, dlq_attempts: "2", dlq_original_topic: Topics.paymentEvents });
  });
});
