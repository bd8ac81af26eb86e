/**
 * System test of the dead-letter path (docs/architecture.md, "The simulated card processor"): an OrderCreated in a
 * currency the merchant account does not take is an operational fault, so payment retries it, dead-letters it and
 * keeps consuming; after the fix (the currency added, payment restarted) scripts/dlq.ts replays it.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentAuthorizedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { PaymentStatus } from "#gen/shop/payment/v1/payment_service_pb.js";
import { listDeadLetters, replayDeadLetter } from "../../scripts/dlq.js";
import { toOutgoingEvent, type EventBus } from "#shared/events/event-bus.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { createOrder, createProduct, orderOf, uniqueId, waitForStatus } from "./fixtures.js";
import { Mesh } from "./mesh.js";
import { ROOT } from "../../scripts/mesh/child.js";
import { foreignCurrencyOrderCreated } from "../../scripts/mesh/poison-events.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

const run = promisify(execFile);
let mesh: Mesh;
let bus: EventBus;

beforeAll(async () => {
  // Five handler calls (about 3 s of backoff) before the DLQ: the service defaults, spelled out for the assertions.
  mesh = await Mesh.start({ env: { payment: { PAYMENT_CURRENCIES: "EUR", EVENT_RETRY_ATTEMPTS: "5" } } });
  bus = createKafkaEventBus({ brokers: parseBrokers(mesh.brokers), clientId: "shopmesh-system-test-poison" });
});

afterAll(async () => {
  await bus?.close();
  await mesh?.stop();
});

/** poisonOrderCreated is an OrderCreated in USD, as another deployment sharing the broker might publish. */
function poisonOrderCreated(orderId: string) {
  const message = foreignCurrencyOrderCreated(orderId, uniqueId("cust-usd"));
  return toOutgoingEvent(OrderCreatedSchema, message, { source: "shopmesh/system-test", subject: orderId });
}

describe("a poison event", () => {
  const poisonOrderId = crypto.randomUUID();
  const poison = poisonOrderCreated(poisonOrderId);

  it("when payment cannot take an event's currency, then it is dead-lettered after the retries and other orders flow", async () => {
    // Act
    await bus.publish(Topics.orderEvents, [poison]);
    const productId = await createProduct(mesh, 5);
    const good = await createOrder(mesh, orderOf(productId, 1));

    // Assert: the good order is not held up for long, the poison one lands on the DLQ with its story
    await waitForStatus(mesh, good.orderId, OrderStatus.CONFIRMED, 45_000);
    const [letter] = await mesh.events.waitFor(
      dlqTopicOf(Topics.orderEvents),
      (events) => {
        const found = events.filter((e) => e.id === poison.id);
        return found.length > 0 && found;
      },
      { message: `the poison event ${poison.id} on the DLQ` },
    );
    expect(letter!.key).toBe(poisonOrderId);
    expect(letter!.headers).toMatchObject({
      ce_id: poison.id,
      ce_type: OrderCreatedSchema.typeName,
      ce_subject: poisonOrderId,
      dlq_consumer: mesh.groupIds.payment,
      dlq_original_topic: Topics.orderEvents,
      dlq_attempts: "5",
    });
    expect(letter!.headers["dlq_error"]).toContain("USD");
    expect((await mesh.payment.listPayments({ orderId: poisonOrderId })).payments).toEqual([]);
  });

  it("when the DLQ is listed, then the CLI shows the dead letter with its consumer, error and origin", async () => {
    // Arrange
    const kafka = createKafkaClient({ brokers: parseBrokers(mesh.brokers), clientId: "shopmesh-system-test-dlq" });

    // Act
    const letters = await listDeadLetters(kafka, [dlqTopicOf(Topics.orderEvents)]);
    const cli = await run(process.execPath, ["--import", "tsx", "scripts/dlq.ts", "list", "--topic", Topics.orderEvents], {
      cwd: ROOT,
      env: { ...process.env, KAFKA_BROKERS: mesh.brokers },
      timeout: 60_000,
    });

    // Assert
    const letter = letters.find((l) => l.id === poison.id);
    expect(letter).toMatchObject({
      type: OrderCreatedSchema.typeName,
      subject: poisonOrderId,
      originalTopic: Topics.orderEvents,
      consumer: mesh.groupIds.payment,
    });
    expect(letter!.error).toContain("USD");
    expect(cli.stdout).toContain(poison.id);
    expect(cli.stdout).toContain(mesh.groupIds.payment);
  });

  it("when the currency is enabled and the dead letter replayed, then the payment is made", async () => {
    // Arrange: the fix
    await mesh.restart("payment", { PAYMENT_CURRENCIES: "EUR,USD" });
    const kafka = createKafkaClient({ brokers: parseBrokers(mesh.brokers), clientId: "shopmesh-system-test-dlq" });

    // Act
    const replayed = await replayDeadLetter(kafka, poison.id, [dlqTopicOf(Topics.orderEvents)]);

    // Assert
    expect(replayed.originalTopic).toBe(Topics.orderEvents);
    const payment = await waitUntil(async () => (await mesh.payment.listPayments({ orderId: poisonOrderId })).payments[0], {
      timeoutMs: 30_000,
      message: `a payment for the replayed order ${poisonOrderId}`,
      describe: () => mesh.logs("payment", 20),
    });
    expect(payment.status).toBe(PaymentStatus.AUTHORIZED);
    expect(payment.amount).toMatchObject({ currencyCode: "USD", amountMinor: 999n });
    await mesh.events.waitForTypes(poisonOrderId, [PaymentAuthorizedSchema.typeName]);
    const copies = (await mesh.events.read(Topics.orderEvents)).filter((e) => e.id === poison.id);
    expect(copies).toHaveLength(2); // the original and the replay, same ce_id
    const copy = copies[1]!;
    expect(copy.key).toBe(poisonOrderId);
    expect(Object.keys(copy.headers).filter((name) => name.startsWith("dlq_"))).toEqual([]);
    expect(copy.headers).toEqual(copies[0]!.headers);
    expect(copy.value.equals(copies[0]!.value)).toBe(true);
  });
});
