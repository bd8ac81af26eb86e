// System test: the whole payment service in-process (gRPC on port 0, SQLite in a temp dir) against the real broker
// found by test/global-setup.ts. Every group id is fresh and pinned to the topics' current end, so the test sees
// only its own events; every order id is fresh, so tests do not see each other's.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { OrderCancelledSchema, OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { PaymentAuthorizedSchema, PaymentDeclinedSchema, PaymentRefundedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { decodeEvent, toOutgoingEvent, type EventBus, type IncomingEvent, type OutgoingEvent } from "#shared/events/event-bus.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { parseBrokers } from "#shared/events/kafka-client.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { createLogger } from "#shared/logger.js";
import { startPayment, type PaymentApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { checkHealth } from "#shared/grpc/health-client.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { collect, pinGroupToLatest, type Collector } from "./kafka-helpers.js";

const brokers = parseBrokers(inject("kafkaBrokers"));
const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
/** SAME_TRACE: an event caused by one carrying TRACEPARENT continues its trace, as a span of its own. */
const SAME_TRACE = /^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const logger = createLogger("payment-test", { LOG_LEVEL: "error", LOG_FORMAT: "json" });

describe("payment service on Kafka", () => {
  const groupId = `payment-test-${crypto.randomUUID()}`;
  let dir: string;
  let env: Record<string, string>;
  let app: PaymentApp;
  let bus: EventBus;
  let paymentEvents: Collector;
  let dlq: Collector;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "payment-events-"));
    env = {
      PORT: "0",
      METRICS_PORT: "0",
      DATA_DIR: dir,
      KAFKA_BROKERS: brokers.join(","),
      KAFKA_GROUP_ID: groupId,
      KAFKA_FROM_BEGINNING: "false",
      PAYMENT_CURRENCIES: "EUR",
      // The service's event behaviour; mTLS and the policy have their own tests.
      MESH_INSECURE: "1",
      // A short retry policy, so a failing event reaches the DLQ in well under a second.
      EVENT_RETRY_ATTEMPTS: "3",
      EVENT_RETRY_INITIAL_MS: "50",
      EVENT_RETRY_MAX_MS: "100",
    };
    bus = createKafkaEventBus({ brokers, clientId: "payment-test" });
    await pinGroupToLatest(brokers, groupId, [Topics.orderEvents]);
    [paymentEvents, dlq, app] = await Promise.all([
      collect(bus, brokers, Topics.paymentEvents),
      collect(bus, brokers, dlqTopicOf(Topics.orderEvents)),
      startPayment(loadConfig(env), { logger }),
    ]);
  });

  afterAll(async () => {
    await app?.stop();
    await paymentEvents?.close();
    await dlq?.close();
    await bus?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function orderCreated(orderId: string, cardToken = "tok_visa_4242", total = { currencyCode: "EUR", amountMinor: 12_345n }) {
    const message = create(OrderCreatedSchema, { orderId, customerId: "customer-7", cardToken, total });
    return toOutgoingEvent(OrderCreatedSchema, message, { source: "shopmesh/order", subject: orderId, traceparent: TRACEPARENT });
  }

  async function publishOrderEvents(...events: OutgoingEvent[]): Promise<void> {
    await bus.publish(Topics.orderEvents, events);
  }

  function paymentEventsOf(orderId: string, type?: string): IncomingEvent[] {
    return paymentEvents.events.filter((e) => e.subject === orderId && (type === undefined || e.type === type));
  }

  function waitForPaymentEvent(orderId: string, type: string): Promise<IncomingEvent> {
    return waitUntil(() => paymentEventsOf(orderId, type)[0], { message: `${type} for order ${orderId}` });
  }

  it("when the service is running, then health says SERVING", async () => {
    expect(await checkHealth(app.address)).toBe("SERVING");
  });

  it("when an order is created, then its payment is authorized, stored and announced with CloudEvents headers", async () => {
    // Arrange
    const orderId = crypto.randomUUID();
    const created = orderCreated(orderId);

    // Act
    await publishOrderEvents(created);

    // Assert
    const event = await waitForPaymentEvent(orderId, PaymentAuthorizedSchema.typeName);
    const authorized = decodeEvent(PaymentAuthorizedSchema, event);
    expect(authorized).toMatchObject({ orderId, amount: { currencyCode: "EUR", amountMinor: 12_345n } });
    expect(authorized.paymentId).toMatch(UUID);
    expect(event.headers).toMatchObject({
      ce_specversion: "1.0",
      ce_type: "shop.payment.v1.PaymentAuthorized",
      ce_source: "shopmesh/payment",
      ce_subject: orderId,
      "content-type": "application/protobuf",
      traceparent: expect.stringMatching(SAME_TRACE),
    });
    expect(event.headers["ce_id"]).toMatch(UUID);
    expect(event.headers["ce_id"]).not.toBe(created.id);
    expect(Number.isNaN(Date.parse(event.headers["ce_time"] ?? ""))).toBe(false);
    const stored = app.payments.get(authorized.paymentId);
    expect(stored).toMatchObject({ orderId, status: "AUTHORIZED", cardLast4: "4242", amount: { amountMinor: 12_345n } });
  });

  it("when the card token declines, then the payment is stored DECLINED and PaymentDeclined is published", async () => {
    const orderId = crypto.randomUUID();

    await publishOrderEvents(orderCreated(orderId, "tok_decline"));

    const event = await waitForPaymentEvent(orderId, PaymentDeclinedSchema.typeName);
    const declined = decodeEvent(PaymentDeclinedSchema, event);
    expect(declined).toMatchObject({ orderId, reason: "card declined" });
    expect(app.payments.get(declined.paymentId)).toMatchObject({ status: "DECLINED", declineReason: "card declined" });
  });

  it("when the same OrderCreated arrives twice, and again under another event id, then the order is charged once", async () => {
    // Arrange
    const orderId = crypto.randomUUID();
    const created = orderCreated(orderId);
    const sameOrderOtherEvent = orderCreated(orderId);

    // Act: all three share the key, so they are consumed in this order.
    await publishOrderEvents(created, created, sameOrderOtherEvent);

    // Assert: the last one was handled (it is in the inbox), so the duplicate before it was too.
    await waitUntil(() => app.db.prepare("SELECT 1 AS ok FROM inbox WHERE event_id = ?").get(sameOrderOtherEvent.id), {
      message: "the last OrderCreated to be handled",
    });
    await waitForPaymentEvent(orderId, PaymentAuthorizedSchema.typeName);
    expect(app.payments.list({ orderId, limit: 10 }).payments).toHaveLength(1);
    const outboxRows = app.db.prepare("SELECT count(*) AS n FROM outbox WHERE subject = ?").get(orderId) as { n: number };
    expect(outboxRows.n).toBe(1);
    expect(paymentEventsOf(orderId)).toHaveLength(1);
  });

  it("when an authorized order is cancelled, then its payment is refunded and PaymentRefunded is published", async () => {
    // Arrange
    const orderId = crypto.randomUUID();
    await publishOrderEvents(orderCreated(orderId));
    const authorized = decodeEvent(PaymentAuthorizedSchema, await waitForPaymentEvent(orderId, PaymentAuthorizedSchema.typeName));
    const cancel = create(OrderCancelledSchema, { orderId, reason: "customer changed their mind", paymentId: authorized.paymentId });

    // Act
    await publishOrderEvents(
      toOutgoingEvent(OrderCancelledSchema, cancel, { source: "shopmesh/order", subject: orderId, traceparent: TRACEPARENT }),
    );

    // Assert
    const event = await waitForPaymentEvent(orderId, PaymentRefundedSchema.typeName);
    expect(decodeEvent(PaymentRefundedSchema, event)).toMatchObject({
      paymentId: authorized.paymentId,
      orderId,
      amount: { currencyCode: "EUR", amountMinor: 12_345n },
    });
    expect(event.headers).toMatchObject({
      ce_type: "shop.payment.v1.PaymentRefunded",
      ce_subject: orderId,
      traceparent: expect.stringMatching(SAME_TRACE),
    });
    expect(app.payments.get(authorized.paymentId).status).toBe("REFUNDED");
  });

  it("when a declined order is cancelled, then nothing is refunded", async () => {
    const orderId = crypto.randomUUID();
    await publishOrderEvents(orderCreated(orderId, "tok_insufficient_funds"));
    await waitForPaymentEvent(orderId, PaymentDeclinedSchema.typeName);
    const cancel = toOutgoingEvent(OrderCancelledSchema, create(OrderCancelledSchema, { orderId, reason: "payment declined" }), {
      source: "shopmesh/order",
      subject: orderId,
    });

    await publishOrderEvents(cancel);

    await waitUntil(() => app.db.prepare("SELECT 1 AS ok FROM inbox WHERE event_id = ?").get(cancel.id), {
      message: "OrderCancelled to be handled",
    });
    expect(app.payments.list({ orderId, limit: 10 }).payments[0]?.status).toBe("DECLINED");
    expect(paymentEventsOf(orderId, PaymentRefundedSchema.typeName)).toHaveLength(0);
  });

  it("when the currency is not enabled, then the event is dead-lettered, later events go on, and a replay after the fix charges it", async () => {
    // Arrange
    const badOrderId = crypto.randomUUID();
    const bad = orderCreated(badOrderId, "tok_visa", { currencyCode: "USD", amountMinor: 500n });
    const goodOrderId = crypto.randomUUID();

    // Act
    await publishOrderEvents(bad);
    await publishOrderEvents(orderCreated(goodOrderId));

    // Assert: after the retries the original event sits on the DLQ, saying which consumer failed and why.
    const dead = await waitUntil(() => dlq.events.find((e) => e.id === bad.id), { message: "the USD OrderCreated on the DLQ" });
    expect(dead.headers).toMatchObject({
      dlq_consumer: groupId,
      dlq_attempts: "3",
      dlq_original_topic: Topics.orderEvents,
      ce_type: "shop.order.v1.OrderCreated",
      ce_subject: badOrderId,
    });
    expect(dead.headers["dlq_error"]).toMatch(/currency "USD" is not enabled/);
    expect(app.payments.list({ orderId: badOrderId, limit: 10 }).payments).toHaveLength(0);
    expect(paymentEventsOf(badOrderId)).toHaveLength(0);
    await waitForPaymentEvent(goodOrderId, PaymentAuthorizedSchema.typeName);

    // Fix the configuration, restart, replay the dead letter onto its topic (what `npm run dlq -- replay` does).
    await app.stop();
    app = await startPayment(loadConfig({ ...env, PAYMENT_CURRENCIES: "EUR,USD" }), { logger });
    const { topic: _t, partition: _p, offset: _o, headers: _h, ...replayed } = dead;
    await publishOrderEvents(replayed);

    const event = await waitForPaymentEvent(badOrderId, PaymentAuthorizedSchema.typeName);
    expect(decodeEvent(PaymentAuthorizedSchema, event).amount).toMatchObject({ currencyCode: "USD", amountMinor: 500n });
  });
});
