import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kafka } from "kafkajs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Inbox, inboxSchema } from "#shared/events/inbox.js";
import { OutboxStore, outboxSchema } from "#shared/events/outbox.js";
import { breakerValue, KafkaLagSource, METRICS, ProcessMetrics, serveMetrics, type BreakerState } from "#shared/metrics/index.js";
import { openDatabase, type SqliteDatabase } from "#shared/store/database.js";

let dir: string;
let db: SqliteDatabase;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "metrics-test-"));
  db = openDatabase(join(dir, "metrics.db"), [...outboxSchema, ...inboxSchema]);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** values reads one metric's samples as prom-client computes them for a scrape (collect included). */
async function values(metrics: ProcessMetrics, name: string) {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  return (await metric.get()).values;
}

/** FakeAdmin answers the kafkajs admin calls KafkaLagSource makes, from fixed offsets. */
function fakeKafka(
  ends: Record<string, { partition: number; low: string; high: string }[]>,
  committed: Record<string, Record<string, { partition: number; offset: string }[]>>,
  calls = { n: 0 },
  hang = false,
): Kafka {
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    fetchTopicOffsets: async (topic: string) => {
      calls.n++;
      if (hang) await new Promise(() => undefined);
      return ends[topic] ?? [];
    },
    fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) =>
      topics.map((topic) => ({ topic, partitions: committed[groupId]?.[topic] ?? [] })),
  };
  return { admin: () => admin } as unknown as Kafka;
}

describe("ProcessMetrics", () => {
  it("when a process is scraped, then prom-client's defaults (event-loop lag) are there with the process label", async () => {
    const metrics = new ProcessMetrics("order");

    const text = await metrics.text();

    expect(text).toContain(`# TYPE ${METRICS.eventLoopLag} gauge`);
    expect(text).toMatch(/nodejs_eventloop_lag_seconds\{process="order"\} \d/);
  });

  it("when RPCs finish, then the duration histogram counts them by method and gRPC code", async () => {
    const metrics = new ProcessMetrics("order");

    metrics.observeRpc("/shop.order.v1.OrderService/CreateOrder", "OK", 0.004);
    metrics.observeRpc("/shop.order.v1.OrderService/CreateOrder", "OK", 0.2);
    metrics.observeRpc("/shop.order.v1.OrderService/CreateOrder", "UNAVAILABLE", 0.001);

    // A histogram's samples carry their series' name (_bucket, _sum, _count); the base type does not say so.
    const samples = (await values(metrics, METRICS.rpcDuration)) as {
      metricName?: string;
      labels: Record<string, unknown>;
      value: number;
    }[];
    const find = (suffix: string, labels: Record<string, string>) =>
      samples.find(
        (v) => v.metricName === `${METRICS.rpcDuration}${suffix}` && Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l),
      )?.value;
    const method = "/shop.order.v1.OrderService/CreateOrder";
    expect(find("_count", { method, code: "OK" })).toBe(2);
    expect(find("_count", { method, code: "UNAVAILABLE" })).toBe(1);
    expect(find("_bucket", { method, code: "OK", le: "0.005" })).toBe(1);
  });

  it("when outbox rows wait, then the backlog counts them and the age is the oldest unpublished row's", async () => {
    const now = Date.parse("2026-12-01T10:00:00.000Z");
    const metrics = new ProcessMetrics("payment");
    metrics.outbox(db, () => now);
    const outbox = new OutboxStore(db);
    for (const n of [1, 2, 3]) {
      outbox.add({ id: `e${n}`, topic: "t", type: "x", source: "s", subject: "o", time: new Date(now), data: new Uint8Array([n]) });
    }
    const at = (ms: number) => new Date(now - ms).toISOString();
    db.prepare(`UPDATE outbox SET created_at = ? WHERE event_id = 'e1'`).run(at(90_000)); // published: not counted
    db.prepare(`UPDATE outbox SET state = 'PUBLISHED' WHERE event_id = 'e1'`).run();
    db.prepare(`UPDATE outbox SET created_at = ?, state = 'FAILED' WHERE event_id = 'e2'`).run(at(45_000));
    db.prepare(`UPDATE outbox SET created_at = ? WHERE event_id = 'e3'`).run(at(5_000));

    expect(await values(metrics, METRICS.outboxBacklog)).toEqual([expect.objectContaining({ value: 2 })]);
    expect(await values(metrics, METRICS.outboxOldestAge)).toEqual([expect.objectContaining({ value: 45 })]);

    db.prepare(`UPDATE outbox SET state = 'PUBLISHED'`).run();
    expect(await values(metrics, METRICS.outboxBacklog)).toEqual([expect.objectContaining({ value: 0 })]);
    expect(await values(metrics, METRICS.outboxOldestAge)).toEqual([expect.objectContaining({ value: 0 })]);
  });

  it("when the inbox skips a redelivered event, then the dedupe counter of that consumer moves, and only then", async () => {
    const metrics = new ProcessMetrics("payment");
    metrics.inboxCounter(); // as the kit does at start
    const inbox = new Inbox(db, metrics.inboxDuplicate);

    inbox.once("payment.order-created", { id: "e1", type: "t" }, () => undefined);
    inbox.once("payment.order-created", { id: "e2", type: "t" }, () => undefined);
    expect(await values(metrics, METRICS.inboxDuplicates)).toEqual([]);
    inbox.once("payment.order-created", { id: "e1", type: "t" }, () => undefined);

    expect(await values(metrics, METRICS.inboxDuplicates)).toEqual([
      expect.objectContaining({ labels: { consumer: "payment.order-created" }, value: 1 }),
    ]);
  });

  it("when a breaker changes state, then the gauge maps closed to 0, half-open to 1 and open (or isolated) to 2 at the next scrape", async () => {
    const metrics = new ProcessMetrics("order");
    let state: BreakerState = "closed";
    metrics.breaker("inventory", () => state);
    const seen: number[] = [];

    for (const next of ["closed", "open", "half-open", "isolated"] as const) {
      state = next;
      const [sample] = await values(metrics, METRICS.breakerState);
      expect(sample?.labels).toEqual({ breaker: "inventory" });
      seen.push(sample?.value ?? -1);
    }

    expect(seen).toEqual([0, 2, 1, 2]);
    expect((["closed", "half-open", "open"] as const).map(breakerValue)).toEqual([0, 1, 2]);
  });

  it("when counts by state are read, then each state is a series of its own", async () => {
    const metrics = new ProcessMetrics("inventory");
    let counts = [
      { state: "HELD", count: 3 },
      { state: "COMMITTED", count: 0 },
    ];
    metrics.countsByState(METRICS.reservations, "reservations", () => counts);

    expect(await values(metrics, METRICS.reservations)).toEqual([
      expect.objectContaining({ labels: { state: "HELD" }, value: 3 }),
      expect.objectContaining({ labels: { state: "COMMITTED" }, value: 0 }),
    ]);
    counts = [{ state: "HELD", count: 1 }];
    expect(await values(metrics, METRICS.reservations)).toEqual([expect.objectContaining({ labels: { state: "HELD" }, value: 1 })]);
  });
});

describe("KafkaLagSource", () => {
  const ends = {
    "shop.order.v1.events": [
      { partition: 0, low: "0", high: "10" },
      { partition: 1, low: "0", high: "7" },
      { partition: 2, low: "0", high: "4" },
    ],
    "shop.order.v1.events.dlq": [{ partition: 0, low: "2", high: "5" }],
  };
  const committed = {
    "shopmesh-payment": {
      "shop.order.v1.events": [
        { partition: 0, offset: "6" },
        { partition: 1, offset: "7" },
        { partition: 2, offset: "-1" },
      ],
    },
  };

  it("when a group has committed offsets, then its lag is the end offset minus the committed one, per partition, and the DLQ depth what it retains", async () => {
    const metrics = new ProcessMetrics("payment");
    metrics.kafka(
      new KafkaLagSource({
        kafka: fakeKafka(ends, committed),
        groups: [{ groupId: "shopmesh-payment", topics: ["shop.order.v1.events"] }],
        dlqTopics: ["shop.order.v1.events.dlq"],
      }),
    );

    const lag = await values(metrics, METRICS.consumerLag);
    const dlq = await values(metrics, METRICS.dlqDepth);
    const up = await values(metrics, METRICS.kafkaUp);

    // Partition 2 has nothing committed: no position, no lag (not a made-up 4).
    expect(lag.map((s) => [s.labels, s.value])).toEqual([
      [{ group: "shopmesh-payment", topic: "shop.order.v1.events", partition: "0" }, 4],
      [{ group: "shopmesh-payment", topic: "shop.order.v1.events", partition: "1" }, 0],
    ]);
    expect(dlq.map((s) => [s.labels, s.value])).toEqual([[{ topic: "shop.order.v1.events.dlq" }, 3]]);
    expect(up.map((s) => s.value)).toEqual([1]);
  });

  it("when several scrapes come within the cache time, then the broker is asked once", async () => {
    const calls = { n: 0 };
    const source = new KafkaLagSource({
      kafka: fakeKafka(ends, committed, calls),
      groups: [{ groupId: "shopmesh-payment", topics: ["shop.order.v1.events"] }],
      dlqTopics: [],
      cacheMs: 60_000,
    });

    const [a, b] = await Promise.all([source.read(), source.read()]);
    await source.read();

    expect(a).toBe(b);
    expect(calls.n).toBe(1); // one fetchTopicOffsets for the one topic, for three reads
  });

  it("when the broker does not answer, then the reading gives up after its timeout and says Kafka is down instead of a number", async () => {
    const metrics = new ProcessMetrics("payment");
    metrics.kafka(
      new KafkaLagSource({
        kafka: fakeKafka(ends, committed, { n: 0 }, true),
        groups: [{ groupId: "shopmesh-payment", topics: ["shop.order.v1.events"] }],
        dlqTopics: ["shop.order.v1.events.dlq"],
        timeoutMs: 100,
      }),
    );
    const started = performance.now();

    const text = await metrics.text();

    expect(performance.now() - started).toBeLessThan(2_000);
    expect(text).toContain('shopmesh_kafka_metrics_up{process="payment"} 0');
    expect(text).not.toMatch(/^shopmesh_kafka_consumer_lag\{/m);
    expect(text).not.toMatch(/^shopmesh_dlq_depth\{/m);
  });
});

describe("serveMetrics", () => {
  it("when METRICS_PORT is 0, then it listens on a free port and answers GET /metrics in the exposition format, and 404 elsewhere", async () => {
    const metrics = new ProcessMetrics("order");
    const server = await serveMetrics(metrics, "127.0.0.1", 0);
    try {
      expect(server.port).toBeGreaterThan(0);
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);

      const scrape = await fetch(server.url);
      const other = await fetch(`http://127.0.0.1:${server.port}/`);

      expect(scrape.status).toBe(200);
      expect(scrape.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      expect(await scrape.text()).toContain(METRICS.eventLoopLag);
      expect(other.status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
