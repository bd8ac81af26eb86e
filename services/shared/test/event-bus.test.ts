// System test: the event bus against the real broker found by test/global-setup.ts (never skipped).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Partitioners, type IHeaders, type Kafka, type KafkaMessage } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { ensureTopics } from "../../../scripts/create-topics.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { decodeEvent, toOutgoingEvent, type EventBus, type IncomingEvent } from "#shared/events/event-bus.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { dlqTopicOf } from "#shared/events/topics.js";

const brokers = parseBrokers(inject("kafkaBrokers"));
const kafka: Kafka = createKafkaClient({ brokers, clientId: "event-bus-test" });
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("event bus on Kafka", () => {
  const topics: string[] = [];
  let bus: EventBus;

  beforeAll(() => {
    bus = createKafkaEventBus({ brokers, clientId: "event-bus-test" });
  });

  afterEach(async () => {
    await bus.close();
    bus = createKafkaEventBus({ brokers, clientId: "event-bus-test" });
  });

  afterAll(async () => {
    await bus.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });

  /** createTestTopic makes a fresh topic and its DLQ, so tests never see each other's (or older runs') messages. */
  async function createTestTopic(): Promise<string> {
    const topic = `test.event-bus.${randomUUID()}.events`;
    topics.push(topic, dlqTopicOf(topic));
    await ensureTopics(brokers, [
      { name: topic, partitions: 3, retentionMs: 3_600_000 },
      { name: dlqTopicOf(topic), partitions: 1, retentionMs: 3_600_000 },
    ]);
    return topic;
  }

  it("when an event is published, then a subscriber gets the same bytes, key and CloudEvents headers", async () => {
    // Arrange
    const topic = await createTestTopic();
    const message = create(StringValueSchema, { value: "order 42 created" });
    const event = toOutgoingEvent(StringValueSchema, message, {
      source: "shopmesh/test",
      subject: "order-42",
      traceparent: TRACEPARENT,
    });
    const received: IncomingEvent[] = [];
    await bus.subscribe({ groupId: `test-${randomUUID()}`, topics: [topic], handle: async (e) => void received.push(e) });

    // Act
    await bus.publish(topic, [event]);

    // Assert
    await waitUntil(() => received.length === 1, { message: "the event to be consumed" });
    const [got] = received;
    expect(got?.data).toEqual(event.data);
    expect(decodeEvent(StringValueSchema, got!).value).toBe("order 42 created");
    expect(got).toMatchObject({ id: event.id, type: "google.protobuf.StringValue", source: "shopmesh/test", subject: "order-42" });
    expect(got?.time.toISOString()).toBe(event.time.toISOString());
    expect(got?.traceparent).toBe(TRACEPARENT);
    const [raw] = await readRaw(topic, 1);
    expect(raw?.key?.toString()).toBe("order-42");
    expect(Buffer.compare(raw!.value!, Buffer.from(event.data))).toBe(0);
    expect(stringHeaders(raw!.headers)).toEqual({
      ce_specversion: "1.0",
      ce_id: event.id,
      ce_type: "google.protobuf.StringValue",
      ce_source: "shopmesh/test",
      ce_subject: "order-42",
      ce_time: event.time.toISOString(),
      "content-type": "application/protobuf",
      traceparent: TRACEPARENT,
    });
  });

  it("when a batch spans partitions, then publish reports each event's partition and offset as a consumer sees them", async () => {
    // Arrange: three subjects (so, most likely, several partitions) interleaved, sent as two batches
    const topic = await createTestTopic();
    const batch = (round: number) =>
      ["order-a", "order-b", "order-c", "order-a", "order-c"].map((subject) =>
        toOutgoingEvent(StringValueSchema, create(StringValueSchema, { value: `${subject} ${round}` }), {
          source: "shopmesh/test",
          subject,
        }),
      );
    const first = batch(1);
    const second = batch(2);

    // Act
    const reported = [...((await bus.publish(topic, first)) ?? []), ...((await bus.publish(topic, second)) ?? [])];

    // Assert: what a consumer reads at each position is the event reported there
    const seen = new Map<string, string>();
    await bus.subscribe({
      groupId: `test-${randomUUID()}`,
      topics: [topic],
      handle: async (e) => void seen.set(e.id, `${e.partition}/${e.offset}`),
    });
    await waitUntil(() => seen.size === 10, { message: "all ten events consumed" });
    expect(reported).toHaveLength(10);
    const events = [...first, ...second];
    expect(reported.map((position) => `${position.partition}/${position.offset}`)).toEqual(events.map((e) => seen.get(e.id)));
    expect(new Set(reported.map((position) => position.partition)).size).toBeGreaterThan(1);
  });

  it("when a handler keeps failing, then the event goes to the DLQ after the retries and the next event is still handled", async () => {
    // Arrange
    const topic = await createTestTopic();
    const groupId = `test-${randomUUID()}`;
    const poison = toOutgoingEvent(StringValueSchema, create(StringValueSchema, { value: "poison" }), {
      source: "shopmesh/test",
      subject: "order-7",
    });
    const good = toOutgoingEvent(StringValueSchema, create(StringValueSchema, { value: "good" }), {
      source: "shopmesh/test",
      subject: "order-7",
    });
    let poisonCalls = 0;
    const handled: IncomingEvent[] = [];
    await bus.subscribe({
      groupId,
      topics: [topic],
      retry: { attempts: 3, initialDelayMs: 50, maxDelayMs: 200 },
      handle: async (e) => {
        if (e.id === poison.id) {
          poisonCalls++;
          throw new Error("payment provider exploded");
        }
        handled.push(e);
      },
    });

    // Act
    await bus.publish(topic, [poison]);
    await bus.publish(topic, [good]);

    // Assert
    await waitUntil(() => handled.length === 1, { message: "the event after the poison one to be handled" });
    expect(handled[0]?.id).toBe(good.id);
    expect(poisonCalls).toBe(3);
    const [dead] = await readRaw(dlqTopicOf(topic), 1);
    const [original] = await readRaw(topic, 1);
    expect(dead?.key?.toString()).toBe("order-7");
    expect(Buffer.compare(dead!.value!, Buffer.from(poison.data))).toBe(0);
    const partition = handled[0]!.partition; // same key, same partition
    expect(stringHeaders(dead!.headers)).toMatchObject({
      ce_id: poison.id,
      ce_type: "google.protobuf.StringValue",
      "content-type": "application/protobuf",
      dlq_consumer: groupId,
      dlq_error: "payment provider exploded",
      dlq_attempts: "3",
      dlq_original_topic: topic,
      dlq_original_partition: String(partition),
      dlq_original_offset: original!.offset,
    });
    await waitUntil(async () => (await committedOffset(groupId, topic, partition)) === String(Number(handled[0]!.offset) + 1), {
      message: "the offsets to be committed",
    });
  });

  it("when a message has no CloudEvents headers, then it goes to the DLQ and consumption goes on", async () => {
    // Arrange
    const topic = await createTestTopic();
    const groupId = `test-${randomUUID()}`;
    const handled: IncomingEvent[] = [];
    await bus.subscribe({ groupId, topics: [topic], handle: async (e) => void handled.push(e) });
    const good = toOutgoingEvent(StringValueSchema, create(StringValueSchema, { value: "good" }), {
      source: "shopmesh/test",
      subject: "order-9",
    });

    // Act
    const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: "order-9", value: "not a cloudevent" }] });
    await producer.disconnect();
    await bus.publish(topic, [good]);

    // Assert
    await waitUntil(() => handled.length === 1, { message: "the well-formed event to be handled" });
    expect(handled[0]?.id).toBe(good.id);
    const [dead] = await readRaw(dlqTopicOf(topic), 1);
    expect(dead?.value?.toString()).toBe("not a cloudevent");
    expect(stringHeaders(dead!.headers)).toMatchObject({
      dlq_consumer: groupId,
      dlq_error: "missing header ce_specversion",
      dlq_attempts: "0",
    });
    const admin = kafka.admin();
    await admin.connect();
    const [dlqPartition] = await admin.fetchTopicOffsets(dlqTopicOf(topic));
    const { groups } = await admin.describeGroups([groupId]);
    await admin.disconnect();
    expect(dlqPartition?.high).toBe("1");
    expect(groups[0]?.state).toBe("Stable");
  });
});

/** readRaw reads the first `count` messages of a topic with a plain kafkajs consumer (bounded wait). */
async function readRaw(topic: string, count: number): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: `test-raw-${randomUUID()}`, maxWaitTimeInMs: 500 });
  const messages: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
    await waitUntil(() => messages.length >= count, { message: `${count} message(s) on ${topic}` });
    return messages.slice(0, count);
  } finally {
    await consumer.disconnect();
  }
}

async function committedOffset(groupId: string, topic: string, partition: number): Promise<string | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets?.partitions.find((p) => p.partition === partition)?.offset;
  } finally {
    await admin.disconnect();
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name, String(value)]));
}
