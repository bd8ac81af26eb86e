import type { ITopicConfig } from "kafkajs";

/**
 * TopicSpec declares one Kafka topic: the project creates every topic up front (the broker runs with
 * `auto.create.topics.enable=false`), so partitions and retention are decided here, once, and nowhere else.
 */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** retentionMs is how long the broker keeps a message (`retention.ms`), whatever its consumers did with it. */
  readonly retentionMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * EVENT_RETENTION_MS: events live 7 days. Consumers keep their own state (inbox tables), so the log only has to cover
 * a consumer that was down or is being replayed: a week leaves room for a long weekend plus a fix.
 */
const EVENT_RETENTION_MS = 7 * DAY_MS;

/**
 * DLQ_RETENTION_MS: dead letters live 30 days, longer than the events, because a human has to notice them, find the
 * cause and replay them; losing a dead letter to retention would lose the business fact it carries.
 */
const DLQ_RETENTION_MS = 30 * DAY_MS;

/** EVENT_PARTITIONS: 3 partitions per event topic; the key is the aggregate id, so each order stays in order. */
export const EVENT_PARTITIONS = 3;

/** DLQ_PARTITIONS: one partition per DLQ; it is read rarely, by a person or the replay command, in arrival order. */
const DLQ_PARTITIONS = 1;

/** Topics names the event topic of each domain (`shop.<domain>.v1.events`, versioned like the proto package). */
export const Topics = {
  orderEvents: "shop.order.v1.events",
  paymentEvents: "shop.payment.v1.events",
  inventoryEvents: "shop.inventory.v1.events",
} as const;

/**
 * CONSUMED_TOPICS is what each service's consumer group reads (the topics of `consumes` in services/<name>/src/app.ts;
 * docs/architecture.md's table). Tools that place a group against an event (the order timeline, the test harness's
 * offset pre-commit) need it without starting the service.
 */
export const CONSUMED_TOPICS: Readonly<Record<"order" | "payment" | "inventory", readonly string[]>> = {
  order: [Topics.paymentEvents, Topics.inventoryEvents],
  payment: [Topics.orderEvents],
  inventory: [Topics.orderEvents, Topics.paymentEvents],
};

/** dlqTopicOf names the dead-letter twin of a topic: `<topic>.dlq`. */
export function dlqTopicOf(topic: string): string {
  return `${topic}.dlq`;
}

/**
 * TOPIC_SPECS lists every topic the project uses: each event topic and its DLQ twin. All use
 * `cleanup.policy=delete` (time-based retention; compaction would drop all but the last event of an aggregate).
 */
export const TOPIC_SPECS: readonly TopicSpec[] = Object.values(Topics).flatMap((name) => [
  { name, partitions: EVENT_PARTITIONS, retentionMs: EVENT_RETENTION_MS },
  { name: dlqTopicOf(name), partitions: DLQ_PARTITIONS, retentionMs: DLQ_RETENTION_MS },
]);

/** toTopicConfig turns a TopicSpec into the kafkajs admin shape (replication factor 1: a single-node cluster). */
export function toTopicConfig(spec: TopicSpec, replicationFactor = 1): ITopicConfig {
  return {
    topic: spec.name,
    numPartitions: spec.partitions,
    replicationFactor,
    configEntries: [
      { name: "cleanup.policy", value: "delete" },
      { name: "retention.ms", value: String(spec.retentionMs) },
    ],
  };
}
