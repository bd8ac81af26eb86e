import type { Logger } from "../logger.js";
import { continueTrace, formatTraceparent, type TraceContext } from "../trace-context.js";
import { type MessagingSystem, recordSend } from "../tracing/messaging-spans.js";
import type { Spans } from "../tracing/spans.js";
import type { Command } from "../commands/command-bus.js";
import { addMissingColumns, openBookkeepingConnection, type SchemaStep, type SqliteDatabase } from "../store/database.js";
import type { EventBus, EventPosition, OutgoingEvent } from "./event-bus.js";

/** OutboxState is the life of one outbox row, visible in the table for operators. */
export type OutboxState = "NOT_PUBLISHED" | "IN_PROGRESS" | "PUBLISHED" | "FAILED";

/**
 * OutboxKind says where a row goes: `event` rows to Kafka topics (the event bus), `command` rows to command queues
 * (the command bus). One table and one relay class serve both; each kind has its own relay instance, so a broker
 * that is down holds back only its own rows (RabbitMQ down must not stop the saga's events on Kafka).
 */
export type OutboxKind = "event" | "command";

/**
 * outboxSchema is the outbox table; services add it to their own database's schema. `topic` is the destination: a
 * Kafka topic for an event row, a command queue for a command row.
 */
export const outboxSchema: readonly SchemaStep[] = [
  `CREATE TABLE IF NOT EXISTS outbox (
     seq          INTEGER PRIMARY KEY AUTOINCREMENT,
     event_id     TEXT NOT NULL UNIQUE,
     topic        TEXT NOT NULL,
     event_type   TEXT NOT NULL,
     source       TEXT NOT NULL,
     subject      TEXT NOT NULL,
     event_time   TEXT NOT NULL,
     traceparent  TEXT,
     payload      BLOB NOT NULL,
     state        TEXT NOT NULL DEFAULT 'NOT_PUBLISHED'
                  CHECK (state IN ('NOT_PUBLISHED','IN_PROGRESS','PUBLISHED','FAILED')),
     times_sent   INTEGER NOT NULL DEFAULT 0,
     last_error   TEXT,
     created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
     published_at TEXT,
     kind         TEXT NOT NULL DEFAULT 'event' CHECK (kind IN ('event','command'))
   )`,
  // Files written before these columns: every row in them is an event, which `kind`'s default says; where a send
  // landed (EventBus.publish reports it) lets an operator place an event against a consumer group's committed offset
  // (the order timeline).
  addMissingColumns("outbox", {
    kind: "TEXT NOT NULL DEFAULT 'event' CHECK (kind IN ('event','command'))",
    kafka_partition: "INTEGER",
    kafka_offset: "INTEGER",
  }),
  `CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, seq) WHERE state != 'PUBLISHED'`,
  // One aggregate's rows, for OpsService.ListAggregateEvents.
  `CREATE INDEX IF NOT EXISTS outbox_subject ON outbox (subject)`,
  `CREATE INDEX IF NOT EXISTS outbox_pending_by_kind ON outbox (kind, state, seq) WHERE state != 'PUBLISHED'`,
];

/** OutboxEvent is an event bound for a topic, as the business transaction records it. */
export interface OutboxEvent extends OutgoingEvent {
  topic: string;
}

interface OutboxRow {
  seq: number;
  event_id: string;
  topic: string;
  event_type: string;
  source: string;
  subject: string;
  event_time: string;
  traceparent: string | null;
  payload: Buffer;
  times_sent: number;
  last_error: string | null;
}

/** ClaimedRow is an outbox row the relay is about to publish: the event, how often it was sent, why the last failed. */
export interface ClaimedRow {
  readonly seq: number;
  readonly event: OutboxEvent;
  /** attempts counts the publishes of the row, the one about to happen included. */
  readonly attempts: number;
  readonly lastError: string | null;
}

/**
 * OutboxStore writes events (and commands) in the caller's transaction and hands
 * committed rows of its kind to the relay: any store adds both kinds, and a store
 * of kind `command` claims only command rows. `add` must be called inside the same `db.transaction` as the
 * business change: that is the whole point of the pattern.
 *
 * The relay's bookkeeping (`claim`, `published`, `failed`) runs on a second
 * connection to the same file with synchronous=NORMAL ({@link openBookkeepingConnection}),
 * one statement (one commit, no fsync) per batch: losing a mark on power loss
 * only resends events, which consumers absorb (at-least-once + inbox), while the
 * business transactions on `db` keep synchronous=FULL. The connection opens on
 * first use and `close()` (called by {@link OutboxRelay.stop}) releases it.
 */
export class OutboxStore {
  private readonly insert;
  private readonly countPending;
  private marks: RelayMarks | undefined;

  constructor(
    private readonly db: SqliteDatabase,
    /** kind is the rows this store's relay claims and counts. */
    readonly kind: OutboxKind = "event",
  ) {
    this.insert = db.prepare(
      `INSERT INTO outbox (kind, event_id, topic, event_type, source, subject, event_time, traceparent, payload)
       VALUES (@kind, @id, @topic, @type, @source, @subject, @time, @traceparent, @payload)`,
    );
    this.countPending = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM outbox WHERE state != 'PUBLISHED' AND kind = ?`);
    // A relay that died mid-publish left rows IN_PROGRESS; they may or may not have
    // reached the broker. Sending them again is safe because consumers dedupe by id.
    db.prepare(`UPDATE outbox SET state = 'NOT_PUBLISHED' WHERE state = 'IN_PROGRESS' AND kind = ?`).run(kind);
  }

  /** add records an event; call it inside the business transaction. */
  add(event: OutboxEvent): void {
    this.addRow("event", event);
  }

  /**
   * addCommand records a command for `queue`; call it inside the business transaction, like `add`. The command keeps
   * its id (the consumer's idempotency key) and its `traceparent` (the writer's, see toCommand).
   */
  addCommand(queue: string, command: Command): void {
    this.addRow("command", { ...command, topic: queue });
  }

  private addRow(kind: OutboxKind, event: OutboxEvent): void {
    this.insert.run({
      kind,
      id: event.id,
      topic: event.topic,
      type: event.type,
      source: event.source,
      subject: event.subject,
      time: event.time.toISOString(),
      traceparent: event.traceparent ?? null,
      payload: Buffer.from(event.data),
    });
  }

  /** claim marks up to `limit` unpublished rows IN_PROGRESS (counting the send) and returns them, oldest first. */
  claim(limit: number): ClaimedRow[] {
    const rows = this.relayMarks().claim.all(this.kind, limit);
    // RETURNING yields rows in no defined order; events about one aggregate must leave in the order written.
    rows.sort((a, b) => a.seq - b.seq);
    return rows.map((row) => ({ seq: row.seq, event: toEvent(row), attempts: row.times_sent, lastError: row.last_error }));
  }

  /** published marks claimed rows PUBLISHED, with the partition and offset of those whose position is known. */
  published(seqs: readonly number[], positions: ReadonlyMap<number, EventPosition> = new Map()): void {
    if (seqs.length === 0) return;
    const marks = seqs.map((seq) => {
      const at = positions.get(seq);
      return at === undefined ? [seq, null, null] : [seq, at.partition, Number(at.offset)];
    });
    this.relayMarks().published.run(JSON.stringify(marks));
  }

  /** failed marks claimed rows FAILED with the error, to be claimed again. */
  failed(seqs: readonly number[], error: string): void {
    if (seqs.length > 0) this.relayMarks().failed.run(error, JSON.stringify(seqs));
  }

  /** backlog is the number of rows not yet published, for health and the UI. */
  backlog(): number {
    return this.countPending.get(this.kind)?.n ?? 0;
  }

  /** close releases the bookkeeping connection (not `db`, which its owner closes); a later claim reopens it. */
  close(): void {
    const marks = this.marks;
    this.marks = undefined;
    if (marks !== undefined && marks.connection !== this.db && marks.connection.open) marks.connection.close();
  }

  private relayMarks(): RelayMarks {
    this.marks ??= prepareRelayMarks(openBookkeepingConnection(this.db) ?? this.db);
    return this.marks;
  }
}

type RelayMarks = ReturnType<typeof prepareRelayMarks>;

/** prepareRelayMarks prepares the relay's three batch statements on its connection. */
function prepareRelayMarks(connection: SqliteDatabase) {
  return {
    connection,
    // `state != 'PUBLISHED'` repeats the partial index outbox_pending's WHERE so SQLite may use it: without it the
    // subquery scanned the whole table, past every published row, on every claim.
    claim: connection.prepare<[string, number], OutboxRow>(
      `UPDATE outbox SET state = 'IN_PROGRESS', times_sent = times_sent + 1
        WHERE seq IN (SELECT seq FROM outbox WHERE kind = ? AND state IN ('NOT_PUBLISHED','FAILED') AND state != 'PUBLISHED'
                       ORDER BY seq LIMIT ?)
       RETURNING seq, event_id, topic, event_type, source, subject, event_time, traceparent, payload, times_sent, last_error`,
    ),
    // The seqs arrive as one JSON array ([seq, partition, offset] each), so a batch is one statement whatever its size.
    published: connection.prepare<[string]>(
      `UPDATE outbox SET state = 'PUBLISHED', last_error = NULL, published_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'),
              kafka_partition = mark.value ->> 1, kafka_offset = mark.value ->> 2
         FROM json_each(?) AS mark WHERE outbox.seq = mark.value ->> 0`,
    ),
    failed: connection.prepare<[string, string]>(
      `UPDATE outbox SET state = 'FAILED', last_error = ? WHERE seq IN (SELECT value FROM json_each(?))`,
    ),
  };
}

function toEvent(row: OutboxRow): OutboxEvent {
  return {
    id: row.event_id,
    topic: row.topic,
    type: row.event_type,
    source: row.source,
    subject: row.subject,
    time: new Date(row.event_time),
    data: new Uint8Array(row.payload),
    ...(row.traceparent ? { traceparent: row.traceparent } : {}),
  };
}

export interface OutboxRelayOptions {
  batchSize?: number;
  pollIntervalMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
  /** spans, when tracing is on, record a PRODUCER span per published event ({@link recordSend}). */
  spans?: Spans | undefined;
  /** system names the broker in those spans (`messaging.system`): `kafka` (the default) for events, the command bus's for commands. */
  system?: MessagingSystem | undefined;
}

/**
 * OutboxPublisher is where a relay sends its rows, one destination at a time: the event bus (`publish(topic, …)`),
 * or the command bus through {@link commandPublisher}.
 */
export type OutboxPublisher = Pick<EventBus, "publish">;

/** commandPublisher lets a relay send command rows: the destination is the queue, the rows are the commands. */
export function commandPublisher(bus: { send(queue: string, commands: readonly Command[]): Promise<void> }): OutboxPublisher {
  return { publish: (queue, commands) => bus.send(queue, commands) };
}

/**
 * OutboxRelay publishes committed outbox rows of its store's kind to their broker (Kafka for events, the command bus
 * for commands), in batches, oldest first.
 * While the broker is down it marks the batch FAILED and backs off exponentially,
 * then retries the same rows: a row leaves the outbox only as PUBLISHED. Delivery
 * is at-least-once (a crash after publish and before marking resends), which the
 * idempotent consumers absorb.
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private backoffMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** notified: a commit asked for a pass while one was running; its rows may have missed that pass's claim. */
  private notified = false;
  private stopped = true;

  constructor(
    private readonly store: OutboxStore,
    private readonly bus: OutboxPublisher,
    private readonly options: OutboxRelayOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 200;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.initialBackoffMs = options.initialBackoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** notify asks for a publish pass now, e.g. right after a commit, instead of at the next poll. */
  notify(): void {
    if (this.stopped || this.backoffMs !== 0) return;
    // A pass in flight may have claimed before this commit: go again as soon as it ends, not a poll interval later
    // (under steady load a pass is nearly always in flight, and each hop of the saga would wait out the interval).
    if (this.running !== undefined) this.notified = true;
    else this.schedule(0);
  }

  /**
   * stop ends polling after a last flush of everything committed so far, bounded by `timeoutMs` (a broker that is
   * down keeps the rows for the next start), and releases the store's bookkeeping connection (call it before closing
   * the database). Resolves with the rows left unpublished.
   */
  async stop(timeoutMs = 5_000): Promise<number> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.store.backlog() > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([this.flush(), timeout]);
      clearTimeout(timer);
    }
    const left = this.store.backlog();
    // A flush still running past the timeout reopens the connection when it marks its batch.
    this.store.close();
    return left;
  }

  /** flush publishes until the outbox is empty or a publish fails; returns the rows published. */
  async flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const sent = await this.drainOnce();
      if (sent <= 0) return total;
      total += sent;
    }
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.pass().finally(() => {
        this.running = undefined;
      });
    }, delayMs);
  }

  private async pass(): Promise<void> {
    const sent = await this.drainOnce();
    if (this.stopped) return;
    if (sent < 0) {
      this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs === 0 ? this.initialBackoffMs : this.backoffMs * 2);
      this.schedule(this.backoffMs);
    } else {
      this.backoffMs = 0;
      // A full batch means more may be waiting, and so does a commit notified during the pass: go again at once.
      const again = sent === this.batchSize || this.notified;
      this.notified = false;
      this.schedule(again ? 0 : this.pollIntervalMs);
    }
  }

  private recordSends(sends: readonly Send[]): void {
    const spans = this.options.spans;
    if (spans === undefined) return;
    for (const { row, own, parent } of sends) {
      const { event } = row;
      recordSend(
        spans,
        { ...event, writtenAt: event.time, attempts: row.attempts, lastError: row.lastError, system: this.options.system },
        own,
        parent,
      );
    }
  }

  /** drainOnce publishes one batch: the count sent, 0 when idle, -1 when the publish failed. */
  private async drainOnce(): Promise<number> {
    const batch = this.store.claim(this.batchSize);
    if (batch.length === 0) return 0;
    const seqs = batch.map((row) => row.seq);
    // Each event leaves as a child of the span that wrote its row: the PRODUCER span's context is what its
    // `traceparent` header carries, so the consumer's span hangs under the send, which hangs under the writer.
    const sends = batch.map((row) => ({ row, ...continueTrace(row.event.traceparent) }));
    try {
      const events = sends.map(({ row, own }) => ({ seq: row.seq, event: { ...row.event, traceparent: formatTraceparent(own) } }));
      const positions = new Map<number, EventPosition>();
      for (const [topic, ofTopic] of groupByTopic(events)) {
        const landed = await this.bus.publish(
          topic,
          ofTopic.map((entry) => entry.event),
        );
        ofTopic.forEach(({ seq }, i) => {
          const at = landed?.[i];
          if (at !== undefined) positions.set(seq, at);
        });
      }
      this.store.published(seqs, positions);
      this.recordSends(sends);
      return batch.length;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.store.failed(seqs, message);
      this.options.logger?.warn(
        { err: message, events: batch.length, firstEventId: batch[0]?.event.id },
        "outbox publish failed; backing off and retrying",
      );
      return -1;
    }
  }
}

/** A claimed row with the context its send carries and the writer's span (undefined: the row had no trace). */
interface Send {
  readonly row: ClaimedRow;
  readonly own: TraceContext;
  readonly parent: TraceContext | undefined;
}

function groupByTopic(rows: { seq: number; event: OutboxEvent }[]): Map<string, { seq: number; event: OutgoingEvent }[]> {
  const byTopic = new Map<string, { seq: number; event: OutgoingEvent }[]>();
  for (const { seq, event: outboxEvent } of rows) {
    const { topic, ...event } = outboxEvent;
    const list = byTopic.get(topic) ?? [];
    list.push({ seq, event });
    byTopic.set(topic, list);
  }
  return byTopic;
}
