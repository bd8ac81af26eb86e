/**
 * P4: outbox relay throughput. N OrderCreated events are committed to an outbox table (services/shared OutboxStore, a
 * real SQLite file with the services' pragmas) and the OutboxRelay publishes them through the project's Kafka event
 * bus; the time from first claim to the last row marked PUBLISHED gives events/s. The baseline is a raw kafkajs
 * producer with the same producer settings (acks=all, one request in flight, the Java partitioner) sending the same
 * messages (key, value, CloudEvents headers) in batches of the relay's batch size, to the same broker and topic.
 * Runs are interleaved so drift hits both alike.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Partitioners, type Message } from "kafkajs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { toCloudEventHeaders } from "#shared/events/cloudevents.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { OutboxRelay, OutboxStore, outboxSchema, type OutboxEvent } from "#shared/events/outbox.js";
import { openDatabase } from "#shared/store/database.js";
import { summarize, type Summary } from "../lib/stats.js";

/** BENCH_TOPIC keeps benchmark events off the shop's topics (a mesh sharing the broker would consume them). */
const BENCH_TOPIC = "bench.outbox.v1";
/** BATCH is the relay's default batch size (OutboxRelay), used by the baseline too. */
const BATCH = 200;

export interface P4Settings {
  readonly events: number;
  readonly reps: number;
}

export interface P4Result {
  readonly relay: Summary;
  readonly raw: Summary;
  readonly events: number;
  readonly batchSize: number;
  readonly valueBytes: number;
}

function makeEvents(n: number): OutboxEvent[] {
  const data = toBinary(
    OrderCreatedSchema,
    create(OrderCreatedSchema, {
      orderId: crypto.randomUUID(),
      customerId: "cust-bench",
      lines: [
        {
          productId: "sku-bench",
          quantity: 1,
          unitPrice: { currencyCode: "EUR", amountMinor: 1_250n },
          lineTotal: { currencyCode: "EUR", amountMinor: 1_250n },
        },
      ],
      total: { currencyCode: "EUR", amountMinor: 1_250n },
      cardToken: "tok_visa",
      createTime: timestampNow(),
    }),
  );
  return Array.from({ length: n }, () => {
    const id = crypto.randomUUID();
    return { id, topic: BENCH_TOPIC, type: "shop.order.v1.OrderCreated", source: "shop.order.v1", subject: id, time: new Date(), data };
  });
}

/** runP4 measures relay and raw producer events/s, `reps` times each, after one warm-up of each. */
export async function runP4(brokers: string, settings: P4Settings, log: (line: string) => void): Promise<P4Result> {
  const brokerList = parseBrokers(brokers);
  const kafka = createKafkaClient({ brokers: brokerList, clientId: "shopmesh-bench-p4" });
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(BENCH_TOPIC)) {
      await admin.createTopics({
        topics: [
          { topic: BENCH_TOPIC, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: "retention.ms", value: "3600000" }] },
        ],
        waitForLeaders: true,
      });
    }
  } finally {
    await admin.disconnect();
  }
  const root = mkdtempSync(path.join(tmpdir(), "shopmesh-bench-p4-"));
  const bus = createKafkaEventBus({ brokers: brokerList, clientId: "shopmesh-bench-relay" });
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  let dbs = 0;

  const relayRun = async (n: number): Promise<number> => {
    const db = openDatabase(path.join(root, `outbox-${dbs++}.db`), outboxSchema);
    try {
      const store = new OutboxStore(db);
      const events = makeEvents(n);
      db.transaction(() => {
        for (const event of events) store.add(event);
      })();
      const relay = new OutboxRelay(store, bus, { batchSize: BATCH });
      const started = performance.now();
      const sent = await relay.flush();
      const seconds = (performance.now() - started) / 1000;
      if (sent !== n) throw new Error(`relay published ${sent} of ${n} events`);
      return n / seconds;
    } finally {
      db.close();
    }
  };
  const rawRun = async (n: number): Promise<number> => {
    const messages: Message[] = makeEvents(n).map((event) => ({
      key: event.subject,
      value: Buffer.from(event.data),
      headers: toCloudEventHeaders(event),
    }));
    const started = performance.now();
    for (let i = 0; i < messages.length; i += BATCH) {
      await producer.send({ topic: BENCH_TOPIC, acks: -1, messages: messages.slice(i, i + BATCH) });
    }
    return n / ((performance.now() - started) / 1000);
  };

  try {
    const warm = Math.min(2_000, settings.events);
    await relayRun(warm);
    await rawRun(warm);
    const relay: number[] = [];
    const raw: number[] = [];
    for (let rep = 0; rep < settings.reps; rep++) {
      raw.push(await rawRun(settings.events));
      relay.push(await relayRun(settings.events));
      log(`P4 rep ${rep + 1}: relay ${relay.at(-1)!.toFixed(0)} events/s, raw producer ${raw.at(-1)!.toFixed(0)} events/s`);
    }
    return {
      relay: summarize(relay),
      raw: summarize(raw),
      events: settings.events,
      batchSize: BATCH,
      valueBytes: makeEvents(1)[0]!.data.length,
    };
  } finally {
    await producer.disconnect();
    await bus.close();
    rmSync(root, { recursive: true, force: true });
  }
}
