/**
 * System test of /metrics (issue 11): the three services and the gateway as real processes, each scraped on its own
 * free METRICS_PORT. Every process exports its names; the committed alert rules use only names they export; and
 * each figure moves when it should: an order (RPC and REST counters), a redelivered event (inbox dedupe), a poison
 * event (DLQ depth), a stopped payment (its consumer lag), a stopped inventory (order's breaker). The last two stop
 * services, so they run last, in that order.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { METRICS } from "#shared/metrics/index.js";
import { ALL_WRITE_SCOPES, signToken } from "../../gateway/src/auth.js";
import { loadConfig as gatewayConfig } from "../../gateway/src/config.js";
import { ROOT } from "../../scripts/mesh/child.js";
import type { MeshProcessName } from "../../scripts/mesh/mesh.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { loadConfig as inventoryConfig } from "../../services/inventory/src/config.js";
import { loadConfig as notificationConfig } from "../../services/notification/src/config.js";
import { loadConfig as orderConfig } from "../../services/order/src/config.js";
import { loadConfig as paymentConfig } from "../../services/payment/src/config.js";
import { quietLogger } from "./event-log.js";
import { createOrder, createProduct, orderOf, uniqueId, waitForStatus } from "./fixtures.js";
import { Mesh } from "./mesh.js";

// The notification service runs in this mesh too: it reports its command queue's figures and the outcomes of its
// deliveries (test/system/notification-visible.test.ts moves them with a refusing SMTP sink).
const PROCESSES = ["gateway", "order", "payment", "inventory", "notification"] as const satisfies readonly MeshProcessName[];

let mesh: Mesh;
let producer: Producer;
let productId: string;

beforeAll(async () => {
  mesh = await Mesh.start({ gateway: true });
  producer = createKafkaClient({
    brokers: parseBrokers(mesh.brokers),
    clientId: "shopmesh-metrics-test",
    logger: quietLogger(),
  }).producer();
  await producer.connect();
  productId = await createProduct(mesh, 100);
});

afterAll(async () => {
  await producer?.disconnect();
  await mesh?.stop();
});

/** Sample is one line of the exposition format. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Scrape is one parsed /metrics answer: the declared metric names (# TYPE) and the samples. */
interface Scrape {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

async function scrape(name: MeshProcessName): Promise<Scrape> {
  const response = await fetch(mesh.metricsUrl(name), { signal: AbortSignal.timeout(5_000) });
  expect(response.status).toBe(200);
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of (await response.text()).split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const labels = Object.fromEntries([...(sample[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

/** sum adds the samples of `name` whose labels include `labels`. */
function sum(scraped: Scrape, name: string, labels: Record<string, string> = {}): number {
  return scraped.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}

/** exported are the sample names a scrape can carry: each declared name, and a histogram's _bucket, _sum, _count. */
function exported(scraped: Scrape): Set<string> {
  const names = new Set<string>();
  for (const [name, type] of scraped.types) {
    names.add(name);
    if (type === "histogram" || type === "summary") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${name}${suffix}`);
  }
  return names;
}

/** poll scrapes `name` until `check` holds, and returns that scrape. */
function poll(name: MeshProcessName, check: (scraped: Scrape) => boolean, message: string, timeoutMs = 30_000): Promise<Scrape> {
  return waitUntil(
    async () => {
      const scraped = await scrape(name);
      return check(scraped) ? scraped : undefined;
    },
    { timeoutMs, intervalMs: 300, message, describe: () => mesh.describe(15) },
  );
}

async function restOrder(customerId: string): Promise<{ status: number; orderId: string }> {
  const token = await signToken(gatewayConfig({}).jwt, { subject: customerId, scopes: ALL_WRITE_SCOPES, ttlSeconds: 600 });
  const response = await fetch(`http://${mesh.address("gateway")}/api/v2/orders`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
    body: JSON.stringify({ customerId, items: [{ productId, quantity: 1 }], payment: { cardToken: "tok_visa" } }),
  });
  const body = (await response.json()) as { order?: { orderId?: string } };
  return { status: response.status, orderId: body.order?.orderId ?? "" };
}

describe("/metrics on every process", () => {
  it("when each process is scraped on its own metrics port, then it exports the names it owns", async () => {
    const common = [METRICS.eventLoopLag, METRICS.kafkaUp, METRICS.consumerLag, METRICS.dlqDepth];
    const service = [...common, METRICS.rpcDuration, METRICS.outboxBacklog, METRICS.outboxOldestAge, METRICS.inboxDuplicates];
    const expected: Record<(typeof PROCESSES)[number], readonly string[]> = {
      gateway: [...common, METRICS.httpDuration],
      order: [...service, METRICS.breakerState],
      payment: service,
      inventory: [...service, METRICS.reservations],
      notification: [...service, METRICS.commandQueueMessages, METRICS.commandQueueUp, METRICS.commandsTotal],
    };

    for (const name of PROCESSES) {
      // Polled: the first scrape also opens the Kafka admin connection, which may outlast one reading's timeout.
      const scraped = await poll(name, (s) => sum(s, METRICS.kafkaUp) === 1, `${name} to read Kafka`);
      expect([...scraped.types.keys()], name).toEqual(expect.arrayContaining([...expected[name]]));
      expect(new URL(mesh.metricsUrl(name)).port).not.toBe(mesh.address(name).split(":")[1]);
    }
  });

  it("when the committed Prometheus files are read, then every metric an alert uses is exported and the scrape targets are the default metrics ports", async () => {
    const dir = path.join(ROOT, "ops", "prometheus");
    const config = parse(readFileSync(path.join(dir, "prometheus.yml"), "utf8")) as {
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    const rules = parse(readFileSync(path.join(dir, config.rule_files[0]!), "utf8")) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const live = new Set<string>();
    for (const name of PROCESSES) for (const metric of exported(await scrape(name))) live.add(metric);

    const alerts = rules.groups.flatMap((group) => group.rules);
    expect(alerts.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining(["ConsumerLagGrowing", "DeadLettersNotEmpty", "OutboxStuck", "CircuitBreakerOpen"]),
    );
    for (const rule of alerts) {
      const used = [...rule.expr.matchAll(/\b(?:shopmesh|nodejs|process)_[a-z0-9_]+\b/g)].map((m) => m[0]);
      expect(used.length, `${rule.alert} names no metric`).toBeGreaterThan(0);
      for (const metric of used) expect(live.has(metric), `${rule.alert} uses ${metric}, which no process exports`).toBe(true);
    }
    const targets = config.scrape_configs.flatMap((job) => job.static_configs.flatMap((c) => c.targets)).sort();
    const defaults = [gatewayConfig({}), orderConfig({}), paymentConfig({}), inventoryConfig({}), notificationConfig({})].map(
      (c) => `127.0.0.1:${c.metricsPort}`,
    );
    expect(targets).toEqual(defaults.sort());
  });

  it("when an order is placed over REST, then the gateway's route histogram and order's RPC counter move", async () => {
    const createOrderV2 = { method: "/shop.order.v2.OrderService/CreateOrder", code: "OK" };
    const route = { method: "POST", route: "/api/v2/orders", status: "201" };
    const rpcBefore = sum(await scrape("order"), `${METRICS.rpcDuration}_count`, createOrderV2);
    const restBefore = sum(await scrape("gateway"), `${METRICS.httpDuration}_count`, route);

    const { status } = await restOrder(uniqueId("cust-metrics"));

    expect(status).toBe(201);
    expect(sum(await scrape("order"), `${METRICS.rpcDuration}_count`, createOrderV2)).toBe(rpcBefore + 1);
    // The gateway records a request when its response closes, which may come just after the client read it.
    const gateway = await poll(
      "gateway",
      (s) => sum(s, `${METRICS.httpDuration}_count`, route) > restBefore,
      "the REST route to be counted",
    );
    expect(sum(gateway, `${METRICS.httpDuration}_count`, route)).toBe(restBefore + 1);
  });

  it("when an event is delivered again, then the inbox skips it and payment's dedupe counter moves", async () => {
    const order = await createOrder(mesh, orderOf(productId, 1));
    await waitForStatus(mesh, order.orderId, OrderStatus.CONFIRMED);
    const [created] = await mesh.events.waitFor(Topics.orderEvents, (events) => {
      const found = events.filter((e) => e.subject === order.orderId && e.type.endsWith("OrderCreated"));
      return found.length > 0 && found;
    });
    const before = sum(await scrape("payment"), METRICS.inboxDuplicates);

    // The same record again, as a producer retry or a replay would send it: same key, bytes and ce_id.
    await producer.send({
      topic: Topics.orderEvents,
      messages: [{ key: created!.key ?? null, value: created!.value, headers: { ...created!.headers }, partition: created!.partition }],
    });

    const after = await poll("payment", (s) => sum(s, METRICS.inboxDuplicates) > before, "payment's dedupe counter to move");
    expect(sum(after, METRICS.inboxDuplicates, { consumer: "payment.order-created" })).toBeGreaterThan(0);
  });

  it("when a poison event arrives, then the depth of its topic's DLQ rises", async () => {
    const dlq = { topic: dlqTopicOf(Topics.orderEvents) };
    const before = sum(await scrape("payment"), METRICS.dlqDepth, dlq);

    await producer.send({ topic: Topics.orderEvents, messages: [{ key: uniqueId("poison"), value: Buffer.from("not an event") }] });

    await poll("payment", (s) => sum(s, METRICS.dlqDepth, dlq) > before, "the DLQ depth to rise on payment");
    await poll("gateway", (s) => sum(s, METRICS.dlqDepth, dlq) > before, "the DLQ depth to rise on the gateway");
  });

  it("when payment is stopped, then the gateway shows its consumer lag growing with each order", async () => {
    const lagOf = (s: Scrape) => sum(s, METRICS.consumerLag, { group: mesh.groupIds.payment, topic: Topics.orderEvents });
    await poll("gateway", (s) => lagOf(s) === 0, "payment to be caught up before it stops");

    await mesh.kill("payment", "SIGTERM");
    for (let n = 0; n < 3; n++) await createOrder(mesh, orderOf(productId, 1));

    const after = await poll("gateway", (s) => lagOf(s) >= 3, "payment's lag to reach the 3 orders created while it was down");
    expect(lagOf(after)).toBe(3);
  });

  it("when inventory is stopped, then order's breaker opens and its gauge says 2", async () => {
    const inventory = { breaker: "inventory" };
    expect(sum(await scrape("order"), METRICS.breakerState, inventory)).toBe(0);

    await mesh.kill("inventory", "SIGKILL");

    // Each CreateOrder fails (UNAVAILABLE or the reserve timeout); five in a row open the circuit.
    await waitUntil(
      async () => {
        await createOrder(mesh, orderOf(productId, 1), crypto.randomUUID(), { timeoutMs: 5_000 }).catch(() => undefined);
        return sum(await scrape("order"), METRICS.breakerState, inventory) === 2;
      },
      { timeoutMs: 60_000, intervalMs: 100, message: "order's breaker gauge to say open", describe: () => mesh.logs("order", 20) },
    );
  });
});
