/**
 * The ops events panel's own view of the event topics: a consumer that follows them without ever committing, keeping
 * a short, time-ordered list of event summaries per topic (see createOpsEventsHandler in ops-events.ts).
 */
import type { Consumer, Kafka, KafkaMessage } from "kafkajs";
import type { Logger } from "pino";
import { headersToStrings, parseCloudEventHeaders } from "#shared/events/cloudevents.js";

/** EventSummary is one event as the panel shows it: CloudEvents attributes and where it sits in the log. */
export interface EventSummary {
  readonly type: string;
  readonly id: string;
  readonly subject: string;
  readonly source: string;
  /** time is `ce_time` (RFC 3339). */
  readonly time: string;
  readonly partition: number;
  readonly offset: string;
  /** deadLetter is set on a `.dlq` record: the `dlq_*` headers the event bus added, and when it was dead-lettered. */
  readonly deadLetter?: DeadLetterSummary;
}

/** DeadLetterSummary is what the event bus's `dlq_*` headers say about a dead letter (kafka-event-bus.ts). */
export interface DeadLetterSummary {
  readonly consumer: string;
  readonly error: string;
  readonly attempts: number;
  readonly originalTopic: string;
  readonly originalPartition: string;
  readonly originalOffset: string;
  /** time is when it was dead-lettered (the DLQ record's timestamp). */
  readonly time: string;
}

/**
 * TopicFollower is the gateway's own consumer: a unique group per process that never commits. At each join it
 * seeks every partition back a little (up to `keep` messages), so a freshly started gateway shows recent history
 * instead of an empty panel, and an event produced while the group was still joining is not lost.
 */
export class TopicFollower {
  private consumer: Consumer | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private resolveReady!: () => void;
  isReady = false;
  readonly ready = new Promise<void>((resolve) => {
    this.resolveReady = resolve;
  });

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: readonly string[],
    /** keep is how many messages per partition to rewind at join, per topic. */
    private readonly keep: (topic: string) => number,
    private readonly logger: Logger,
    private readonly onEvent: (topic: string, summary: EventSummary) => void,
  ) {}

  start(): void {
    void this.run().catch((error: unknown) => {
      this.logger.warn({ err: error }, "ops events consumer could not start; retrying in 5 s");
      void this.consumer?.disconnect().catch(() => undefined);
      this.consumer = undefined;
      if (!this.stopped) this.retryTimer = setTimeout(() => this.start(), 5000);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.consumer?.disconnect().catch(() => undefined);
    this.consumer = undefined;
  }

  private async run(): Promise<void> {
    const groupId = `shopmesh-gateway-ops-${crypto.randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: 250, allowAutoTopicCreation: false });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      void this.rewind(consumer, event.payload.memberAssignment).then(() => {
        this.isReady = true;
        this.resolveReady();
      });
    });
    await consumer.connect();
    if (this.stopped) return void (await consumer.disconnect());
    await consumer.subscribe({ topics: [...this.topics], fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => this.onEvent(topic, summarize(partition, message)),
    });
  }

  private async rewind(consumer: Consumer, assignment: Record<string, number[]>): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      for (const [topic, partitions] of Object.entries(assignment)) {
        const offsets = await admin.fetchTopicOffsets(topic);
        for (const { partition, low, high } of offsets) {
          if (!partitions.includes(partition)) continue;
          const from = BigInt(high) - BigInt(this.keep(topic));
          consumer.seek({ topic, partition, offset: String(from > BigInt(low) ? from : BigInt(low)) });
        }
      }
    } catch (error) {
      this.logger.warn({ err: error }, "ops events consumer could not rewind; showing events from now on");
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

function summarize(partition: number, message: KafkaMessage): EventSummary {
  const where = { partition, offset: message.offset };
  const timestamp = new Date(Number(message.timestamp));
  try {
    const headers = headersToStrings(message.headers);
    const attributes = parseCloudEventHeaders(headers, { key: message.key?.toString(), timestamp });
    const deadLetter: DeadLetterSummary | undefined =
      headers["dlq_consumer"] === undefined
        ? undefined
        : {
            consumer: headers["dlq_consumer"],
            error: headers["dlq_error"] ?? "",
            attempts: Number(headers["dlq_attempts"] ?? 0),
            originalTopic: headers["dlq_original_topic"] ?? "",
            originalPartition: headers["dlq_original_partition"] ?? "",
            originalOffset: headers["dlq_original_offset"] ?? "",
            time: timestamp.toISOString(),
          };
    return {
      ...(deadLetter === undefined ? {} : { deadLetter }),
      type: attributes.type,
      id: attributes.id,
      subject: attributes.subject,
      source: attributes.source,
      time: attributes.time.toISOString(),
      ...where,
    };
  } catch (error) {
    return {
      type: "(not a CloudEvent)",
      id: "",
      subject: message.key?.toString() ?? "",
      source: error instanceof Error ? error.message : String(error),
      time: timestamp.toISOString(),
      ...where,
    };
  }
}

/** remember keeps the newest `keep` summaries of a topic, ordered by time (partitions interleave). */
export function remember(recent: Map<string, EventSummary[]>, topic: string, summary: EventSummary, keep: number): void {
  const list = recent.get(topic) ?? [];
  if (list.some((known) => known.partition === summary.partition && known.offset === summary.offset)) return; // re-read after a rewind
  list.push(summary);
  const last = list[list.length - 2];
  if (last && last.time > summary.time) list.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  if (list.length > keep) list.splice(0, list.length - keep);
  recent.set(topic, list);
}
