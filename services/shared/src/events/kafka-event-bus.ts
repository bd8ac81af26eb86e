import {
  Partitioners,
  type EachBatchPayload,
  type Kafka,
  type IHeaders,
  type KafkaMessage,
  type Message,
  type Producer,
  type RecordMetadata,
} from "kafkajs";
import { pino } from "pino";
import { headersToStrings, MalformedEventError, parseCloudEventHeaders, toCloudEventHeaders } from "./cloudevents.js";
import {
  DEFAULT_RETRY,
  type EventBus,
  type EventPosition,
  type IncomingEvent,
  type OutgoingEvent,
  type RetryPolicy,
  type SubscribeOptions,
  type Subscription,
} from "./event-bus.js";
import { createKafkaClient, type KafkaClientOptions, type KafkaLogger } from "./kafka-client.js";
import { leaveGroupMember, RetriableError, waitForGroupJoin } from "./kafka-group-membership.js";
import { dlqTopicOf } from "./topics.js";

/** KafkaEventBusOptions configures createKafkaEventBus. */
export interface KafkaEventBusOptions extends KafkaClientOptions {
  /**
   * partitionsConsumedConcurrently: how many partitions one subscription works on at once (default 3, the event
   * topics' partition count), so a partition stuck retrying an event does not hold up the others.
   */
  readonly partitionsConsumedConcurrently?: number;
  /** joinTimeoutMs bounds how long subscribe waits for the group join (default 30 s). */
  readonly joinTimeoutMs?: number;
  /**
   * sessionTimeoutMs is how long the coordinator keeps a consumer that stopped heartbeating (default 10 s, kafkajs's
   * own is 30 s). Only a backstop for a member nobody evicted (SubscribeOptions.staleMembers does that at once).
   */
  readonly sessionTimeoutMs?: number;
  /** clientLogger gets kafkajs's own warnings and errors (default: `logger`); the service kit quiets them at start. */
  readonly clientLogger?: KafkaLogger;
}

/**
 * createKafkaEventBus is the kafkajs implementation of EventBus.
 *
 * Publishing: one `send` per publish call, `acks=all`, the subject as key, CloudEvents attributes as headers
 * (cloudevents.ts). Consuming: `eachBatch` with manual offset resolution, so an offset is resolved and committed
 * only after its event was handled or dead-lettered; a failing handler is retried with exponential backoff, then
 * the original message (key, value, headers) goes to `<topic>.dlq` with `dlq_*` headers saying who failed and why.
 */
export function createKafkaEventBus(options: KafkaEventBusOptions): EventBus {
  const logger = options.logger ?? pino({ name: "event-bus", level: "warn" });
  const kafka = createKafkaClient({ ...options, logger: options.clientLogger ?? logger });
  // No idempotent producer (not required, and it needs extra broker ACLs in some setups); one request in flight keeps
  // a key's events in order even when a send is retried.
  // The Java client's partitioner (murmur2 of the key), so a JVM or Go producer puts a subject on the same partition.
  // Wrapped to note the partition it picks for each message object (the producer passes ours through; a retry picks
  // again and the last pick is the one sent), so publish can give each event its offset: a send answers one base
  // offset per partition, and the messages of one partition in one send are consecutive from it.
  const partitionOf = new WeakMap<Message, number>();
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    maxInFlightRequests: 1,
    createPartitioner: () => {
      const pick = Partitioners.DefaultPartitioner();
      return (args) => {
        const partition = pick(args);
        partitionOf.set(args.message, partition);
        return partition;
      };
    },
  });
  let producerConnection: Promise<void> | undefined;
  const subscriptions = new Set<Subscription>();
  let closed = false;

  function connectProducer(): Promise<void> {
    producerConnection ??= producer.connect().catch((error: unknown) => {
      producerConnection = undefined; // let the next publish try again
      throw error;
    });
    return producerConnection;
  }

  async function send(topic: string, messages: Message[]): Promise<RecordMetadata[]> {
    await connectProducer();
    return producer.send({ topic, acks: -1, messages });
  }

  async function subscribe(subscription: SubscribeOptions): Promise<Subscription> {
    if (closed) throw new Error("event bus is closed");
    const retry = subscription.retry ?? DEFAULT_RETRY;
    if (!(retry.attempts >= 1)) throw new Error(`retry.attempts must be at least 1, got ${retry.attempts}`);
    // maxWaitTimeInMs bounds a fetch's long poll, and so how long close() waits for the fetch in flight (default 5 s).
    const consumer = kafka.consumer({
      groupId: subscription.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 1_000,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [...subscription.topics], fromBeginning: subscription.fromBeginning ?? true });
      for (const memberId of subscription.staleMembers ?? []) await evict(subscription.groupId, memberId);
      const onGroupJoin = subscription.onGroupJoin;
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        // The assignment, said once per join: a member holding fewer partitions than it should (a stray member of
        // the same group took the rest) shows here at once, instead of as orders that never move.
        logger.info?.(
          { groupId: subscription.groupId, memberId: payload.memberId, assignment: payload.memberAssignment },
          "joined the consumer group",
        );
        onGroupJoin?.(payload.memberId);
      });
      const joined = waitForGroupJoin(consumer, options.joinTimeoutMs ?? 30_000);
      await consumer.run({
        autoCommit: true,
        autoCommitThreshold: 1, // commitOffsetsIfNecessary() below then commits every resolved offset at once
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 3,
        eachBatch: (payload) => consumeBatch(payload, subscription, retry),
      });
      await joined;
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    const handle: Subscription = {
      close: async () => {
        subscriptions.delete(handle);
        await consumer.disconnect();
      },
    };
    subscriptions.add(handle);
    return handle;
  }

  // Evictions use a client of their own that logs nothing: kafkajs logs every error response at ERROR, and "not aware
  // of this member" is an expected answer here (the member already left); evict() logs the outcome and real errors.
  let evictor: Kafka | undefined;

  /** evict drops a member an earlier run left behind; a failure costs only join time, unless it is worth a retry. */
  async function evict(groupId: string, memberId: string): Promise<void> {
    evictor ??= createKafkaClient({ ...options, logger: { error: () => undefined, warn: () => undefined } });
    try {
      const left = await leaveGroupMember(evictor, groupId, memberId);
      logger.info?.({ groupId, memberId, left }, left ? "evicted a stale group member" : "stale group member already gone");
    } catch (error) {
      if ((error as { retriable?: unknown }).retriable === true) throw error;
      logger.warn({ groupId, memberId, err: error }, "could not evict a stale group member; the join waits out its session");
    }
  }

  async function consumeBatch(payload: EachBatchPayload, subscription: SubscribeOptions, retry: RetryPolicy): Promise<void> {
    const { batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale } = payload;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      const done = await consumeMessage(batch.topic, batch.partition, message, subscription, retry, payload);
      if (!done) return; // stopping mid-retry: leave the offset uncommitted so the event is delivered again
      resolveOffset(message.offset);
      await commitOffsetsIfNecessary();
      await heartbeat();
    }
  }

  /** consumeMessage handles one message to the end (handled or dead-lettered); false when stopped before that. */
  async function consumeMessage(
    topic: string,
    partition: number,
    message: KafkaMessage,
    subscription: SubscribeOptions,
    retry: RetryPolicy,
    { heartbeat, isRunning }: Pick<EachBatchPayload, "heartbeat" | "isRunning">,
  ): Promise<boolean> {
    const where = { topic, partition, offset: message.offset, consumer: subscription.groupId };
    let event: IncomingEvent;
    try {
      event = toIncomingEvent(topic, partition, message);
    } catch (error) {
      if (!(error instanceof MalformedEventError)) throw error;
      await deadLetter(topic, partition, message, subscription.groupId, error.message, 0);
      logger.error({ ...where, err: error.message }, "malformed event dead-lettered");
      return true;
    }
    let lastError = "";
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      try {
        await subscription.handle(event);
        return true;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        logger.warn({ ...where, eventId: event.id, eventType: event.type, attempt, err: lastError }, "event handler failed");
      }
      if (attempt < retry.attempts) {
        const delay = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (attempt - 1));
        if (!(await pause(delay, heartbeat, isRunning))) return false;
      }
    }
    await deadLetter(topic, partition, message, subscription.groupId, lastError, retry.attempts);
    logger.error({ ...where, eventId: event.id, eventType: event.type, attempts: retry.attempts, err: lastError }, "event dead-lettered");
    return true;
  }

  async function deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    groupId: string,
    reason: string,
    attempts: number,
  ): Promise<void> {
    const headers: IHeaders = {
      ...message.headers,
      dlq_consumer: groupId,
      dlq_error: reason,
      dlq_attempts: String(attempts),
      dlq_original_topic: topic,
      dlq_original_partition: String(partition),
      dlq_original_offset: message.offset,
    };
    await send(dlqTopicOf(topic), [{ key: message.key, value: message.value, headers }]);
  }

  async function ready(topics: readonly string[]): Promise<void> {
    await connectProducer();
    const admin = kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((topic) => !existing.has(topic));
      // Topics are created up front (auto-creation is off): one missing now is most likely still being created.
      if (missing.length > 0)
        throw new RetriableError(`topics missing on the broker: ${missing.join(", ")} (scripts/create-topics.ts creates them)`);
    } finally {
      await admin.disconnect();
    }
  }

  return {
    ready,
    async publish(topic: string, events: readonly OutgoingEvent[]): Promise<readonly EventPosition[] | undefined> {
      if (closed) throw new Error("event bus is closed");
      if (events.length === 0) return [];
      const messages = events.map(toKafkaMessage);
      return positionsOf(messages, await send(topic, messages), partitionOf);
    },
    subscribe,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all([...subscriptions].map((subscription) => subscription.close()));
      if (producerConnection) await producer.disconnect();
    },
  };
}

/**
 * positionsOf gives each sent message its partition and offset: the partition the partitioner noted, and the
 * partition's base offset plus the message's place among that partition's messages. Undefined if any is unknown.
 */
export function positionsOf(
  messages: readonly Message[],
  metadata: readonly RecordMetadata[],
  partitionOf: WeakMap<Message, number>,
): EventPosition[] | undefined {
  const next = new Map<number, bigint>();
  for (const record of metadata) if (record.baseOffset !== undefined) next.set(record.partition, BigInt(record.baseOffset));
  const positions: EventPosition[] = [];
  for (const message of messages) {
    const partition = partitionOf.get(message);
    const offset = partition === undefined ? undefined : next.get(partition);
    if (partition === undefined || offset === undefined) return undefined;
    positions.push({ partition, offset: offset.toString() });
    next.set(partition, offset + 1n);
  }
  return positions;
}

function toKafkaMessage(event: OutgoingEvent): Message {
  return {
    key: event.subject,
    value: Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength),
    headers: toCloudEventHeaders(event),
  };
}

function toIncomingEvent(topic: string, partition: number, message: KafkaMessage): IncomingEvent {
  if (message.value === null) throw new MalformedEventError("message has no value (tombstone)");
  const headers = headersToStrings(message.headers);
  const attributes = parseCloudEventHeaders(headers, {
    key: message.key?.toString(),
    timestamp: new Date(Number(message.timestamp)),
  });
  return { ...attributes, data: new Uint8Array(message.value), topic, partition, offset: message.offset, headers };
}

/** pause waits `ms` in short slices, heartbeating so a long backoff does not cost the partition; false if stopped. */
async function pause(ms: number, heartbeat: () => Promise<void>, isRunning: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isRunning()) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - Date.now())));
    await heartbeat();
  }
  return isRunning();
}
