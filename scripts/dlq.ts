/**
 * dlq lists and replays dead letters: events a consumer kept failing on, which the event bus moved to `<topic>.dlq`
 * with `dlq_*` headers saying who failed, why, and where the event came from (kafka-event-bus.ts); and commands in a
 * queue's parking lot, where the command bus put those a handler kept failing on or could not read (docs/commands.md).
 *
 *   npx tsx scripts/dlq.ts list [--topic T]          every dead letter on every DLQ topic (or T's DLQ)
 *   npx tsx scripts/dlq.ts replay <ce_id> [--topic T] republish that event to its original topic
 *   npx tsx scripts/dlq.ts parked [queue]            every parked command of the queue (default: every command queue)
 *   npx tsx scripts/dlq.ts unpark <queue> [id...]    move those parked commands (all, without ids) back to the queue
 *
 * Commands go to the broker COMMAND_BUS names (RABBITMQ_URL, or SQS_ENDPOINT for sqs), through the bus's own `parked`
 * and `replay`: an unparked command keeps its id, so a consumer that handled it meanwhile drops it (its ledger), and a
 * malformed message cannot be replayed and stays parked.
 *
 * Replay republishes the original message as it was first published: same key (so the same partition and order
 * relative to its aggregate), same value, same `ce_*` headers and traceparent, without the `dlq_*` headers. The
 * event keeps its `ce_id`, so a consumer that did handle it meanwhile skips it (inbox). Fix the cause first (docs/
 * architecture.md: e.g. add the currency and restart payment), then replay.
 *
 * KAFKA_BROKERS (default 127.0.0.1:9092). Reads each DLQ from its beginning with a throwaway consumer group, up to the
 * end offsets seen at start, bounded by DLQ_READ_TIMEOUT_MS (default 30000).
 */
import { Partitioners, type IHeaders, type Kafka } from "kafkajs";
import { pathToFileURL } from "node:url";
import { type CommandBus, CommandQueues, createCommandBus, memoryCommandLedger, type ParkedCommand } from "#shared/commands/index.js";
import { readCommandBusSettings } from "#shared/config.js";
import { headersToStrings } from "#shared/events/cloudevents.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { dlqTopicOf, TOPIC_SPECS } from "#shared/events/topics.js";

/** DeadLetter is one message found on a DLQ topic. */
export interface DeadLetter {
  /** id, type and subject are the event's `ce_id`, `ce_type` and `ce_subject`. */
  readonly id: string;
  readonly type: string;
  readonly subject: string;
  readonly dlqTopic: string;
  readonly dlqPartition: number;
  readonly dlqOffset: string;
  readonly originalTopic: string;
  readonly originalPartition: string;
  readonly originalOffset: string;
  /** consumer is the consumer group that gave up on the event (`dlq_consumer`). */
  readonly consumer: string;
  /** error is the handler's last error (`dlq_error`). */
  readonly error: string;
  readonly attempts: string;
  /** deadLetteredAt is when it reached the DLQ (the DLQ message's timestamp); eventTime is its `ce_time`. */
  readonly deadLetteredAt: Date;
  readonly eventTime: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** headers are the message's raw headers, `dlq_*` included. */
  readonly headers: IHeaders;
}

/** DLQ_TOPICS are the DLQ twins of the project's event topics (services/shared/src/events/topics.ts). */
export const DLQ_TOPICS: readonly string[] = TOPIC_SPECS.map((spec) => spec.name).filter((name) => name.endsWith(".dlq"));

/** dlqTopicsFor picks the DLQ topics to read: `topic` may name an event topic or its DLQ; all of them by default. */
export function dlqTopicsFor(topic?: string): string[] {
  if (topic === undefined) return [...DLQ_TOPICS];
  return [topic.endsWith(".dlq") ? topic : dlqTopicOf(topic)];
}

/** listDeadLetters reads every dead letter of the given DLQ topics, oldest first per topic. */
export async function listDeadLetters(kafka: Kafka, topics: readonly string[] = DLQ_TOPICS, timeoutMs = 30_000): Promise<DeadLetter[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, Map<number, bigint>>();
  try {
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      ends.set(topic, new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)])));
    }
  } finally {
    await admin.disconnect();
  }
  const pending = new Set([...ends].flatMap(([topic, partitions]) => [...partitions.keys()].map((p) => `${topic}/${p}`)));
  const letters: DeadLetter[] = [];
  if (pending.size === 0) return letters;

  // A throwaway group that commits nothing: reading the DLQ must not move anyone's offsets.
  const consumer = kafka.consumer({ groupId: `shopmesh-dlq-cli-${crypto.randomUUID()}`, maxWaitTimeInMs: 250 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...ends.keys()], fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${[...ends.keys()].join(", ")} took over ${timeoutMs} ms (still at ${[...pending].join(", ")})`)),
        timeoutMs,
      );
      void consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ topic, partition, message }) => {
            const end = ends.get(topic)?.get(partition);
            if (end === undefined || BigInt(message.offset) >= end) return;
            letters.push(toDeadLetter(topic, partition, message));
            if (BigInt(message.offset) + 1n >= end) pending.delete(`${topic}/${partition}`);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await done;
  } finally {
    await consumer.disconnect();
  }
  return letters.sort((a, b) => a.dlqTopic.localeCompare(b.dlqTopic) || Number(BigInt(a.dlqOffset) - BigInt(b.dlqOffset)));
}

/**
 * replayDeadLetter republishes the dead letter whose `ce_id` is `id` (the latest, if it was dead-lettered more than
 * once) to its original topic and returns it; it throws when there is none.
 */
export async function replayDeadLetter(kafka: Kafka, id: string, topics: readonly string[] = DLQ_TOPICS): Promise<DeadLetter> {
  const letter = (await listDeadLetters(kafka, topics)).filter((l) => l.id === id).at(-1);
  if (!letter) throw new Error(`no dead letter with ce_id ${id} on ${topics.join(", ")}`);
  if (!letter.originalTopic) throw new Error(`dead letter ${id} has no dlq_original_topic header`);
  // The Java client's partitioner, as the event bus uses: the key lands on the partition it came from.
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({
      topic: letter.originalTopic,
      acks: -1,
      messages: [{ key: letter.key, value: letter.value, headers: withoutDlqHeaders(letter.headers) }],
    });
  } finally {
    await producer.disconnect();
  }
  return letter;
}

/** withoutDlqHeaders keeps the original headers (`ce_*`, content-type, traceparent) and drops `dlq_*`. */
export function withoutDlqHeaders(headers: IHeaders): IHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith("dlq_")));
}

/** formatDeadLetter renders one dead letter for the terminal. */
export function formatDeadLetter(letter: DeadLetter): string {
  return [
    `${letter.id}  ${letter.type}  subject=${letter.subject}`,
    `  from      ${letter.originalTopic} partition ${letter.originalPartition} offset ${letter.originalOffset}`,
    `  consumer  ${letter.consumer} (after ${letter.attempts} attempts)`,
    `  error     ${letter.error}`,
    `  time      dead-lettered ${letter.deadLetteredAt.toISOString()}, event time ${letter.eventTime}`,
    `  dlq       ${letter.dlqTopic} partition ${letter.dlqPartition} offset ${letter.dlqOffset}`,
  ].join("\n");
}

function toDeadLetter(
  topic: string,
  partition: number,
  message: { key: Buffer | null; value: Buffer | null; headers?: IHeaders; offset: string; timestamp: string },
): DeadLetter {
  const h = headersToStrings(message.headers);
  return {
    id: h["ce_id"] ?? "",
    type: h["ce_type"] ?? "",
    subject: h["ce_subject"] ?? message.key?.toString() ?? "",
    dlqTopic: topic,
    dlqPartition: partition,
    dlqOffset: message.offset,
    originalTopic: h["dlq_original_topic"] ?? "",
    originalPartition: h["dlq_original_partition"] ?? "",
    originalOffset: h["dlq_original_offset"] ?? "",
    consumer: h["dlq_consumer"] ?? "",
    error: h["dlq_error"] ?? "",
    attempts: h["dlq_attempts"] ?? "",
    deadLetteredAt: new Date(Number(message.timestamp)),
    eventTime: h["ce_time"] ?? "",
    key: message.key,
    value: message.value,
    headers: message.headers ?? {},
  };
}

/** formatParked renders one parked command for the terminal. */
export function formatParked(queue: string, parked: ParkedCommand): string {
  const command = parked.command;
  return [
    command ? `${command.id}  ${command.type}  subject=${command.subject}` : `${parked.messageId}  (malformed: cannot be replayed)`,
    `  queue     ${queue} (after ${parked.attempts} attempts)`,
    `  reason    ${parked.reason}`,
    `  time      parked ${parked.parkedAt.toISOString()}${command ? `, sent ${command.time.toISOString()} by ${command.source}` : ""}`,
    ...(parked.raw ? [`  arrived   ${JSON.stringify(parked.raw)}`] : []),
  ].join("\n");
}

/** COMMAND_QUEUES are the project's command queues (services/shared/src/commands/queues.ts). */
export const COMMAND_QUEUES: readonly string[] = Object.values(CommandQueues);

/** parkedCommands lists the parking lot of each queue, oldest first per queue, leaving the commands there. */
export async function parkedCommands(
  bus: CommandBus,
  queues: readonly string[] = COMMAND_QUEUES,
): Promise<{ queue: string; parked: ParkedCommand }[]> {
  const found: { queue: string; parked: ParkedCommand }[] = [];
  for (const queue of queues) for (const parked of await bus.parked(queue, { limit: 10_000 })) found.push({ queue, parked });
  return found;
}

async function commandsMain(command: "parked" | "unpark", args: string[]): Promise<void> {
  const bus = createCommandBus(readCommandBusSettings(process.env), { ledger: memoryCommandLedger(), connectionName: "shopmesh-dlq" });
  try {
    if (command === "parked") {
      const found = await parkedCommands(bus, args.length > 0 ? args : COMMAND_QUEUES);
      if (found.length === 0) console.log(`no parked commands on ${(args.length > 0 ? args : COMMAND_QUEUES).join(", ")} (${bus.kind})`);
      for (const { queue, parked } of found) console.log(`${formatParked(queue, parked)}\n`);
      if (found.length > 0) console.log(`${found.length} parked command(s); move them back with: npm run dlq -- unpark <queue> [id...]`);
      return;
    }
    const [queue, ...ids] = args;
    if (!queue) throw new Error(USAGE);
    const moved = await bus.replay(queue, ids.length > 0 ? { ids } : {});
    console.log(
      `unparked ${moved} command(s) back to ${queue}${ids.length > 0 && moved < ids.length ? ` (${ids.length - moved} not found, or malformed)` : ""}`,
    );
  } finally {
    await bus.close();
  }
}

const USAGE = "usage: npm run dlq -- list [--topic T] | replay <ce_id> [--topic T] | parked [queue...] | unpark <queue> [command id...]";

async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  if (args[0] === "parked" || args[0] === "unpark") return commandsMain(args[0], args.slice(1));
  let topic: string | undefined;
  const at = args.indexOf("--topic");
  if (at >= 0) {
    topic = args[at + 1];
    if (!topic) throw new Error(`--topic needs a topic name\n${USAGE}`);
    args.splice(at, 2);
  }
  const [command, id] = args;
  const brokers = parseBrokers(process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092");
  const kafka = createKafkaClient({ brokers, clientId: "shopmesh-dlq" });
  const timeoutMs = Number(process.env["DLQ_READ_TIMEOUT_MS"] ?? 30_000);
  const topics = dlqTopicsFor(topic);
  if (command === "list") {
    const letters = await listDeadLetters(kafka, topics, timeoutMs);
    if (letters.length === 0) console.log(`no dead letters on ${topics.join(", ")}`);
    for (const letter of letters) console.log(`${formatDeadLetter(letter)}\n`);
    if (letters.length > 0) console.log(`${letters.length} dead letter(s); replay one with: npm run dlq -- replay <ce_id>`);
  } else if (command === "replay" && id) {
    const letter = await replayDeadLetter(kafka, id, topics);
    console.log(
      `replayed ${letter.id} (${letter.type}, subject ${letter.subject}) to ${letter.originalTopic}; ` +
        `it failed before in ${letter.consumer}: ${letter.error}`,
    );
  } else {
    throw new Error(USAGE);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`[dlq] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
