/**
 * One order, one trace (issue 11): the gateway, order, inventory and payment in-process on the suite's real broker,
 * each with its own in-memory span exporter, as four processes would export to one Zipkin. An order placed over
 * REST must come out as one tree: gateway → order → inventory (a reservation on the shared ReserveStock stream) →
 * the outbox → Kafka → payment → order and inventory, every parent link pointing at a span of the same trace. The
 * second case stops the broker while the order is placed: the outbox row keeps the writer's context, so the trace
 * goes on after the broker is back, with the send's attempts on its PRODUCER span.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ADMIN_SCOPE } from "#shared/security/principal.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { CommandQueues } from "#shared/commands/queues.js";
import { Topics } from "#shared/events/topics.js";
import { createLogger } from "#shared/logger.js";
import { ALL_WRITE_SCOPES, signToken } from "../../gateway/src/auth.js";
import { startGateway, type Gateway } from "../../gateway/src/app.js";
import { loadConfig as loadGatewayConfig } from "../../gateway/src/config.js";
import { startNotification, type NotificationApp } from "../../services/notification/src/app.js";
import { loadConfig as loadNotificationConfig } from "../../services/notification/src/config.js";
import { startPayment, type PaymentApp } from "../../services/payment/src/app.js";
import { loadConfig as loadPaymentConfig } from "../../services/payment/src/config.js";
import { startTestInventory, type RunningInventory } from "../../services/inventory/test/helpers.js";
import { startTestOrderService, type TestOrderService } from "../../services/order/test/helpers.js";
import { kafkaScript } from "../../scripts/mesh/broker.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { commitOffsets, CONSUMED_TOPICS, endOffsets, quietLogger } from "../system/event-log.js";

const brokers = process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092";
/** KAFKA_SCRIPT_MS bounds each scripts/kafka.sh call. */
const KAFKA_SCRIPT_MS = 180_000;

type Service = "gateway" | "order" | "inventory" | "payment" | "notification";
const exporters: Record<Service, InMemorySpanExporter> = {
  gateway: new InMemorySpanExporter(),
  order: new InMemorySpanExporter(),
  inventory: new InMemorySpanExporter(),
  payment: new InMemorySpanExporter(),
  notification: new InMemorySpanExporter(),
};

let inventory: RunningInventory;
let order: TestOrderService;
let payment: PaymentApp;
let paymentDir: string;
let notification: NotificationApp;
let notificationDir: string;
let gateway: Gateway;
let token: string;

const testLogger = (service: string) => createLogger(service, { LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "silent", LOG_FORMAT: "json" });

beforeAll(async () => {
  const group = `trace-test-${crypto.randomUUID()}`;
  // Each group starts at offsets committed now: a group that has committed nothing yet rejoins after the broker's
  // restart at the end of the log, past an OrderCreated the relay sent in the meantime (running services have
  // committed offsets, so that is the test's artefact, not the mesh's).
  const kafka = createKafkaClient({ brokers: parseBrokers(brokers), clientId: "trace-test", logger: quietLogger() });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const start = await endOffsets(admin, [Topics.orderEvents, Topics.paymentEvents, Topics.inventoryEvents]);
    for (const service of ["order", "payment", "inventory"] as const) {
      await commitOffsets(kafka, `${group}-${service}`, start, CONSUMED_TOPICS[service]);
    }
  } finally {
    await admin.disconnect();
  }
  inventory = await startTestInventory({ KAFKA_GROUP_ID: `${group}-inventory` }, { spanExporter: exporters.inventory });
  // The "tell the customer" command goes to the suite's RabbitMQ and the notification service sends the email.
  const commandBus = { COMMAND_BUS: "rabbitmq", RABBITMQ_URL: inject("rabbitmqUrl") };
  notificationDir = mkdtempSync(join(tmpdir(), "trace-notification-"));
  notification = await startNotification(
    loadNotificationConfig({
      ...commandBus,
      PORT: "0",
      METRICS_PORT: "0",
      DATA_DIR: notificationDir,
      SMTP_URL: inject("smtpUrl"),
      MESH_INSECURE: "1",
    }),
    { logger: testLogger("notification"), spanExporter: exporters.notification },
  );
  order = await startTestOrderService(
    { INVENTORY_ADDR: inventory.app.address, KAFKA_GROUP_ID: `${group}-order`, ...commandBus },
    { spanExporter: exporters.order, logger: testLogger("order"), commandBus: undefined },
  );
  paymentDir = mkdtempSync(join(tmpdir(), "trace-payment-"));
  payment = await startPayment(
    loadPaymentConfig({
      PORT: "0",
      METRICS_PORT: "0",
      DATA_DIR: paymentDir,
      KAFKA_BROKERS: brokers,
      KAFKA_GROUP_ID: `${group}-payment`,
      KAFKA_FROM_BEGINNING: "false",
      MESH_INSECURE: "1",
    }),
    {
      logger: testLogger("payment"),
      spanExporter: exporters.payment,
    },
  );
  const config = loadGatewayConfig({
    MESH_INSECURE: "1",
    HOST: "127.0.0.1",
    PORT: "0",
    METRICS_PORT: "0",
    ORDER_ADDR: order.address,
    PAYMENT_ADDR: payment.address,
    INVENTORY_ADDR: inventory.app.address,
    KAFKA_BROKERS: brokers,
    KAFKA_GROUP_IDS: `${group}-order`,
  });
  gateway = await startGateway(config, { logger: pino({ level: "silent" }), spanExporter: exporters.gateway });
  token = await signToken(config.jwt, { subject: "trace-test", scopes: [...ALL_WRITE_SCOPES, ADMIN_SCOPE], ttlSeconds: 3600 });
});

afterAll(async () => {
  await gateway?.stop(1_000);
  await payment?.stop();
  await order?.dispose();
  await inventory?.stop();
  await notification?.stop();
  if (paymentDir) rmSync(paymentDir, { recursive: true, force: true });
  if (notificationDir) rmSync(notificationDir, { recursive: true, force: true });
});

/** placeOrder creates an order of one espresso over REST and returns its id and the trace id the gateway answered. */
async function placeOrder(): Promise<{ orderId: string; traceId: string }> {
  const res = await fetch(`${gateway.url}/api/v1/orders`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      customerId: `cust-${crypto.randomUUID().slice(0, 8)}`,
      lines: [{ productId: "sku-espresso", quantity: 1 }],
      cardToken: "tok_visa",
    }),
  });
  const body = (await res.json()) as { order?: { orderId: string } };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return { orderId: body.order!.orderId, traceId: res.headers.get("trace-id")! };
}

async function waitForConfirmed(orderId: string, timeoutMs: number): Promise<void> {
  await waitUntil(
    async () => {
      const res = await fetch(`${gateway.url}/api/v1/orders/${orderId}`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { order?: { status: string } };
      return body.order?.status === "ORDER_STATUS_CONFIRMED" || undefined;
    },
    { timeoutMs, message: `order ${orderId} to be CONFIRMED` },
  );
}

/** TracedSpan is an exported span with the service that exported it. */
interface TracedSpan {
  readonly service: Service;
  readonly span: ReadableSpan;
}

/**
 * traceOf flushes every pipeline until `done` holds for the trace's spans, and returns them: spans end in different
 * processes at different times (the last consumer's span ends after the order is already CONFIRMED).
 */
async function traceOf(traceId: string, done: (spans: TracedSpan[]) => boolean): Promise<TracedSpan[]> {
  return await waitUntil(
    async () => {
      await Promise.all([
        gateway.tracing?.flush(),
        order.flushSpans(),
        inventory.app.flushSpans(),
        payment.flushSpans(),
        notification.flushSpans(),
      ]);
      const spans = (Object.entries(exporters) as [Service, InMemorySpanExporter][]).flatMap(([service, exporter]) =>
        exporter
          .getFinishedSpans()
          .filter((span) => span.spanContext().traceId === traceId)
          .map((span) => ({ service, span })),
      );
      return done(spans) ? spans : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, message: `the spans of trace ${traceId}` },
  );
}

/** Step picks a span by its service, kind and name, and optionally an attribute. */
interface Step {
  readonly service: Service;
  readonly kind: SpanKind;
  readonly name: string;
  readonly attributes?: Record<string, string>;
}

function matches(candidate: TracedSpan, step: Step): boolean {
  const { service, span } = candidate;
  if (service !== step.service || span.kind !== step.kind || span.name !== step.name) return false;
  return Object.entries(step.attributes ?? {}).every(([key, value]) => span.attributes[key] === value);
}

/** childOf is the one span matching `step` whose parent is `parent`; it fails naming what it looked for. */
function childOf(spans: TracedSpan[], parent: TracedSpan, step: Step): TracedSpan {
  const found = spans.filter((s) => s.span.parentSpanContext?.spanId === parent.span.spanContext().spanId && matches(s, step));
  expect(
    found.length,
    `a ${step.service} ${SpanKind[step.kind]} span "${step.name}" under ${parent.service} "${parent.span.name}"; the trace has:\n${describeTrace(spans)}`,
  ).toBeGreaterThanOrEqual(1);
  return found[0]!;
}

function describeTrace(spans: TracedSpan[]): string {
  return spans
    .map(
      ({ service, span }) =>
        `  ${service} ${SpanKind[span.kind]} ${span.name} ${span.spanContext().spanId} ← ${span.parentSpanContext?.spanId ?? "root"}`,
    )
    .join("\n");
}

const has = (step: Step) => (spans: TracedSpan[]) => spans.some((s) => matches(s, step));

const ORDER_CREATED = "shop.order.v1.OrderCreated";
const PAYMENT_AUTHORIZED = "shop.payment.v1.PaymentAuthorized";
const INVENTORY_COMMITS: Step = { service: "inventory", kind: SpanKind.CONSUMER, name: `process ${Topics.paymentEvents}` };
const SEND_EMAIL: Step = { service: "order", kind: SpanKind.PRODUCER, name: `send ${CommandQueues.orderEmails}` };
const NOTIFIED: Step = { service: "notification", kind: SpanKind.CONSUMER, name: `process ${CommandQueues.orderEmails}` };
/** done: the last spans of an order's tree are in (the stock committed, the email's command handled). */
const done = (spans: TracedSpan[]) => has(INVENTORY_COMMITS)(spans) && has(NOTIFIED)(spans);

/** expectOrderTree checks the whole path of one confirmed order, parent by parent, and returns its sends. */
function expectOrderTree(spans: TracedSpan[], orderId: string) {
  // One tree: a single root (the gateway's request) and every other span's parent inside the trace.
  const ids = new Set(spans.map((s) => s.span.spanContext().spanId));
  const roots = spans.filter((s) => s.span.parentSpanContext === undefined);
  expect(roots.map((s) => `${s.service} ${s.span.name}`)).toEqual(["gateway POST /api/v1/orders"]);
  const dangling = spans.filter((s) => s.span.parentSpanContext !== undefined && !ids.has(s.span.parentSpanContext.spanId));
  expect(
    dangling.map((s) => `${s.service} ${s.span.name}`),
    describeTrace(spans),
  ).toEqual([]);

  const root = roots[0]!;
  const create = "shop.order.v1.OrderService/CreateOrder";
  const reserve = "shop.inventory.v1.InventoryService/ReserveStock";
  const gatewayCall = childOf(spans, root, { service: "gateway", kind: SpanKind.CLIENT, name: create });
  const orderServer = childOf(spans, gatewayCall, { service: "order", kind: SpanKind.SERVER, name: create });
  const reservation = childOf(spans, orderServer, { service: "order", kind: SpanKind.CLIENT, name: reserve });
  expect(reservation.span.attributes["shop.order_id"]).toBe(orderId);
  const reserved = childOf(spans, reservation, { service: "inventory", kind: SpanKind.SERVER, name: reserve });
  expect(reserved.span.attributes["shop.order_id"]).toBe(orderId);

  const orderCreated = childOf(spans, orderServer, {
    service: "order",
    kind: SpanKind.PRODUCER,
    name: `send ${Topics.orderEvents}`,
    attributes: { "cloudevents.event_type": ORDER_CREATED, "messaging.kafka.message.key": orderId },
  });
  const charged = childOf(spans, orderCreated, { service: "payment", kind: SpanKind.CONSUMER, name: `process ${Topics.orderEvents}` });
  expect(charged.span.attributes["messaging.message.id"]).toBe(orderCreated.span.attributes["messaging.message.id"]);
  const authorized = childOf(spans, charged, {
    service: "payment",
    kind: SpanKind.PRODUCER,
    name: `send ${Topics.paymentEvents}`,
    attributes: { "cloudevents.event_type": PAYMENT_AUTHORIZED },
  });
  const confirmed = childOf(spans, authorized, { service: "order", kind: SpanKind.CONSUMER, name: `process ${Topics.paymentEvents}` });
  childOf(spans, authorized, INVENTORY_COMMITS);
  // The command half: the confirmation's "tell the customer" command, through RabbitMQ, to the notification service.
  const command = childOf(spans, confirmed, { ...SEND_EMAIL, attributes: { "messaging.system": "rabbitmq" } });
  childOf(spans, command, { ...NOTIFIED, attributes: { "messaging.system": "rabbitmq" } });
  return { orderCreated };
}

describe("one order, one trace", () => {
  it("when an order is placed over REST, then gateway, order, inventory (its reservation on the stream), the outbox, Kafka, payment and the consumers of the payment form one span tree", async () => {
    // Act
    const { orderId, traceId } = await placeOrder();
    await waitForConfirmed(orderId, 30_000);

    // Assert
    const spans = await traceOf(traceId, done);
    const { orderCreated } = expectOrderTree(spans, orderId);
    expect(orderCreated.span.attributes["shop.outbox.attempts"]).toBe(1);
  });

  it("when the broker is down while the order is placed, then the outbox keeps its context and the trace goes on once the broker is back", async () => {
    // Arrange: the suite's broker, run by scripts/kafka.sh, so this test can stop and start it.
    const port = /^(?:127\.0\.0\.1|localhost):(\d+)$/.exec(brokers.trim())?.[1];
    const status = port === undefined ? undefined : await kafkaScript("status", { port, timeoutMs: KAFKA_SCRIPT_MS });
    if (port === undefined || !status?.output.includes("started by kafka.sh")) {
      throw new Error(
        `this test stops and restarts the broker, which only works with a broker run by scripts/kafka.sh on this machine; ` +
          `the suite uses ${brokers} (${status?.output.trim() ?? "not a local address"})`,
      );
    }

    // Act: the order is accepted while the broker is stopped, and its OrderCreated waits in the outbox.
    const stopped = await kafkaScript("stop", { port, timeoutMs: KAFKA_SCRIPT_MS });
    expect(stopped.code, stopped.output).toBe(0);
    let placed: { orderId: string; traceId: string };
    try {
      placed = await placeOrder();
      await waitUntil(
        () =>
          order.db
            .prepare<[string, string], { times_sent: number }>(`SELECT times_sent FROM outbox WHERE subject = ? AND event_type = ?`)
            .get(placed.orderId, ORDER_CREATED)!.times_sent >= 2 || undefined,
        { timeoutMs: 30_000, message: "the relay to have tried OrderCreated against the stopped broker and to try again" },
      );
    } finally {
      const started = await kafkaScript("start", { port, timeoutMs: KAFKA_SCRIPT_MS });
      expect(started.code, started.output).toBe(0);
    }
    await waitForConfirmed(placed.orderId, 120_000);

    // Assert: the same tree, its send spanning the outage.
    const spans = await traceOf(placed.traceId, done);
    const { orderCreated } = expectOrderTree(spans, placed.orderId);
    // At least the failed attempt the wait saw and the one that got through.
    expect(orderCreated.span.attributes["shop.outbox.attempts"]).toBeGreaterThanOrEqual(2);
    expect(orderCreated.span.attributes["shop.outbox.last_error"]).toEqual(expect.any(String));
  }, 300_000);
});
