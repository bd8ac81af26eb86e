/**
 * EventLog records, for one system test file, every Kafka message produced on the project's topics after a point in
 * time: it snapshots the topics' end offsets when opened and consumes from exactly there, with a throwaway consumer
 * group, so events of earlier runs sharing the broker are never seen.
 */
import { fromBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Admin, Consumer, Kafka } from "kafkajs";
import { headersToStrings } from "#shared/events/cloudevents.js";
import { createKafkaClient, parseBrokers, type KafkaLogger } from "#shared/events/kafka-client.js";
import { commitGroupOffsets } from "#shared/events/kafka-group-membership.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { waitUntil, type WaitOptions } from "../../scripts/mesh/wait.js";

/** EVENT_TOPICS are the three domain event topics. */
const EVENT_TOPICS: readonly string[] = Object.values(Topics);
/** ALL_TOPICS are the event topics and their DLQ twins. */
const ALL_TOPICS: readonly string[] = EVENT_TOPICS.flatMap((topic) => [topic, dlqTopicOf(topic)]);

/** RecordedEvent is one Kafka message as stored: key, raw value, UTF-8 headers, and where it sits. */
export interface RecordedEvent {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | undefined;
  readonly value: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  /** id, type and subject are the `ce_id`, `ce_type` and `ce_subject` headers (empty when missing). */
  readonly id: string;
  readonly type: string;
  readonly subject: string;
}

/** CONSUMED_TOPICS is what each service's group reads (services/shared/src/events/topics.ts). */
export { CONSUMED_TOPICS } from "#shared/events/topics.js";

/** TopicOffsets maps topic → partition → offset. */
export type TopicOffsets = Map<string, Map<number, string>>;

/** endOffsets reads the current end (high watermark) of every partition of the topics. */
export async function endOffsets(admin: Admin, topics: readonly string[]): Promise<TopicOffsets> {
  const result: TopicOffsets = new Map();
  for (const topic of topics) {
    const partitions = await admin.fetchTopicOffsets(topic);
    result.set(topic, new Map(partitions.map((p) => [p.partition, p.high])));
  }
  return result;
}

/**
 * commitOffsets commits `offsets` for a consumer group that has no running members (a fresh one), so its first real
 * join starts exactly there whatever its `fromBeginning` says. It commits without joining the group
 * (commitGroupOffsets says why a consumer that joins, commits and leaves is not safe on a fresh broker).
 */
export async function commitOffsets(kafka: Kafka, groupId: string, offsets: TopicOffsets, topics?: readonly string[]): Promise<void> {
  const chosen = [...offsets].filter(([topic]) => topics === undefined || topics.includes(topic));
  await commitGroupOffsets(
    kafka,
    groupId,
    chosen.map(([topic, partitions]) => ({ topic, partitions: [...partitions].map(([partition, offset]) => ({ partition, offset })) })),
  );
}

/** waitForJoin resolves on the consumer's next group join (call it before `run`). */
function waitForJoin(consumer: Consumer, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer did not join its group within ${timeoutMs} ms`)), timeoutMs);
    const remove = consumer.on(consumer.events.GROUP_JOIN, () => {
      clearTimeout(timer);
      remove();
      resolve();
    });
  });
}

/** EventLog collects messages from a snapshot of end offsets onwards; see the file comment. */
export class EventLog {
  private readonly events: RecordedEvent[] = [];
  /** next is the offset after the last collected message, per topic and partition. */
  private readonly next: TopicOffsets;

  private constructor(
    private readonly admin: Admin,
    private readonly consumer: Consumer,
    readonly start: TopicOffsets,
  ) {
    this.next = new Map([...start].map(([topic, partitions]) => [topic, new Map(partitions)]));
  }

  /** open snapshots the end offsets of `topics` and starts collecting from there. */
  static async open(brokers: string, topics: readonly string[] = ALL_TOPICS, kafka?: Kafka): Promise<EventLog> {
    const client = kafka ?? createKafkaClient({ brokers: parseBrokers(brokers), clientId: "shopmesh-system-test", logger: quietLogger() });
    const admin = client.admin();
    await admin.connect();
    const start = await endOffsets(admin, topics);
    const groupId = `test-${crypto.randomUUID()}-event-log`;
    // The group's offsets are committed at the snapshot before it first joins, so it starts exactly there (a seek
    // after the join could race the first fetch from "latest" and record some messages twice).
    await commitOffsets(client, groupId, start);
    const consumer = client.consumer({ groupId, maxWaitTimeInMs: 250 });
    const log = new EventLog(admin, consumer, start);
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: false });
    const joined = waitForJoin(consumer);
    joined.catch(() => undefined); // awaited below; a `run` that throws first must not leave it unhandled
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const headers = headersToStrings(message.headers);
        log.events.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString(),
          value: message.value ?? Buffer.alloc(0),
          headers,
          id: headers["ce_id"] ?? "",
          type: headers["ce_type"] ?? "",
          subject: headers["ce_subject"] ?? "",
        });
        log.next.get(topic)?.set(partition, (BigInt(message.offset) + 1n).toString());
      },
    });
    await joined;
    return log;
  }

  /** collected returns what has arrived so far (optionally of one topic), in arrival order. */
  collected(topic?: string): RecordedEvent[] {
    return topic === undefined ? [...this.events] : this.events.filter((e) => e.topic === topic);
  }

  /**
   * read waits until every message on the topics' partitions at the time of the call has been collected, then
   * returns those of `topic` (all topics when omitted) matching `filter`.
   */
  async read(topic?: string, filter: (event: RecordedEvent) => boolean = () => true, timeoutMs = 15_000): Promise<RecordedEvent[]> {
    const topics = topic === undefined ? [...this.start.keys()] : [topic];
    const ends = await endOffsets(this.admin, topics);
    await waitUntil(() => this.reached(ends), {
      timeoutMs,
      message: `the event log to reach the end offsets of ${topics.join(", ")}`,
      describe: () => JSON.stringify(Object.fromEntries([...this.next].map(([t, p]) => [t, Object.fromEntries(p)]))),
    });
    return this.collected(topic).filter(filter);
  }

  /** about returns the collected events whose subject (or key) is `subject`, e.g. an order id. */
  async about(subject: string, topic?: string): Promise<RecordedEvent[]> {
    return this.read(topic, (e) => e.subject === subject || e.key === subject);
  }

  /**
   * waitFor polls the log until `check` returns something (not undefined/false) for the events of `topic` (all
   * topics when undefined) and returns it; on timeout the error lists the event types seen.
   */
  async waitFor<T>(
    topic: string | undefined,
    check: (events: RecordedEvent[]) => T | undefined | false,
    options: WaitOptions = {},
  ): Promise<T> {
    return waitUntil(() => check(this.collected(topic)), {
      timeoutMs: 30_000,
      intervalMs: 100,
      ...options,
      describe: () => summarize(this.collected(topic)),
    });
  }

  /** waitForTypes waits until the events about `subject` include each of `types`, and returns them all. */
  async waitForTypes(subject: string, types: readonly string[], options: WaitOptions = {}): Promise<RecordedEvent[]> {
    return this.waitFor(
      undefined,
      (events) => {
        const about = events.filter((e) => e.subject === subject || e.key === subject);
        return types.every((type) => about.some((e) => e.type === type)) && about;
      },
      { message: `events ${types.join(", ")} about ${subject}`, ...options },
    );
  }

  async close(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }

  private reached(ends: TopicOffsets): boolean {
    for (const [topic, partitions] of ends) {
      for (const [partition, end] of partitions) {
        const at = this.next.get(topic)?.get(partition) ?? "0";
        if (BigInt(at) < BigInt(end)) return false;
      }
    }
    return true;
  }
}

/** decodeRecorded decodes a recorded event's value as `schema`, checking its `ce_type` first. */
export function decodeRecorded<Desc extends DescMessage>(schema: Desc, event: RecordedEvent): MessageShape<Desc> {
  if (event.type !== schema.typeName) throw new Error(`event ${event.id} is a ${event.type}, not a ${schema.typeName}`);
  return fromBinary(schema, event.value);
}

/** countBy counts items by a key, for "one of each" assertions. */
export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

/**
 * quietLogger drops kafkajs's connection errors, which a test that stops the broker causes on purpose; a real
 * problem still shows as a wait that times out. SYSTEM_TEST_KAFKA_LOGS=1 prints them.
 */
export function quietLogger(): KafkaLogger {
  if (process.env["SYSTEM_TEST_KAFKA_LOGS"] === "1") return { error: console.error, warn: console.warn };
  return { error: () => undefined, warn: () => undefined };
}

function summarize(events: readonly RecordedEvent[]): string {
  const last = events.slice(-20).map((e) => `${e.type || "?"}(${e.subject.slice(0, 8)})@${e.topic}`);
  return `${events.length} events; last: ${last.join(", ") || "none"}`;
}
