import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { OpsService, OutboxState } from "#gen/shop/ops/v1/ops_service_pb.js";
import type { CommandBus } from "./commands/command-bus.js";
import { implement, type ServiceRegistration } from "./grpc/registration.js";
import type { SqliteDatabase } from "./store/database.js";

/** OpsServiceOptions name the service reporting and its own database (which holds its outbox and inbox tables). */
export interface OpsServiceOptions {
  /** service is the name reported back, e.g. "order". */
  readonly service: string;
  readonly db: SqliteDatabase;
  /** commands are the command queues the service consumes and its bus, for GetCommandQueues; none by default. */
  readonly commands?: { readonly bus: CommandBus; readonly queues: readonly string[] } | undefined;
}

/** DEFAULT_PARKED_LIMIT and MAX_PARKED_LIMIT bound GetCommandQueues' parked commands per queue. */
const DEFAULT_PARKED_LIMIT = 5;
const MAX_PARKED_LIMIT = 100;
/** PARKED_SCAN bounds how much of a parking lot one call reads (a parking lot that large is an incident anyway). */
const PARKED_SCAN = 1_000;

/** MAX_AGGREGATE_EVENTS bounds one answer; an order has about ten events, so this is only a guard. */
const MAX_AGGREGATE_EVENTS = 500;
/** MAX_EVENT_IDS bounds the inbox question (an order's events from every service, with room to spare). */
const MAX_EVENT_IDS = 1000;

const OUTBOX_STATES: Record<string, OutboxState> = {
  NOT_PUBLISHED: OutboxState.NOT_PUBLISHED,
  IN_PROGRESS: OutboxState.IN_PROGRESS,
  PUBLISHED: OutboxState.PUBLISHED,
  FAILED: OutboxState.FAILED,
};

interface AggregateRow {
  event_id: string;
  event_type: string;
  topic: string;
  state: string;
  times_sent: number;
  last_error: string | null;
  created_at: string;
  published_at: string | null;
  kafka_partition: number | null;
  kafka_offset: number | null;
  traceparent: string | null;
}

interface OutboxCounts {
  pending: number;
  failed: number;
  published: number;
  oldest_pending: string | null;
}

/**
 * createOpsServiceImpl implements shop.ops.v1.OpsService over one service's database: outbox counts by state, the
 * oldest unpublished row and the inbox size (GetEventStatus), and one aggregate's outbox rows and inbox entries
 * (ListAggregateEvents), read straight from the tables outbox.ts and inbox.ts define. Each call is one query per
 * table, cheap next to the relay's own polling.
 */
export function createOpsServiceImpl(options: OpsServiceOptions): ServiceImpl<typeof OpsService> {
  const { db, service } = options;
  // One pass over the outbox; IN_PROGRESS counts as pending (it has not reached Kafka as far as we know).
  const outbox = db.prepare<[], OutboxCounts>(
    `SELECT coalesce(sum(state != 'PUBLISHED'), 0) AS pending,
            coalesce(sum(state = 'FAILED'), 0)     AS failed,
            coalesce(sum(state = 'PUBLISHED'), 0)  AS published,
            min(CASE WHEN state != 'PUBLISHED' THEN created_at END) AS oldest_pending
       FROM outbox`,
  );
  const inbox = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM inbox`);
  // The outbox_subject index makes this a lookup; seq orders an aggregate's rows as they were written.
  const aggregateRows = db.prepare<[string], AggregateRow>(
    `SELECT event_id, event_type, topic, state, times_sent, last_error, created_at, published_at,
            kafka_partition, kafka_offset, traceparent
       FROM outbox WHERE subject = ? ORDER BY seq LIMIT ${MAX_AGGREGATE_EVENTS}`,
  );
  // The inbox's key is (consumer, event_id), and the inbox grows with every event ever handled: looking ids up by
  // event_id alone would scan it. So the consumers are walked first along the key (a loose index scan: each step one
  // seek to the next consumer name, a handful in all), then each (consumer, id) pair is one key lookup (CROSS JOIN
  // fixes that join order; EXPLAIN QUERY PLAN: "consumer=? AND event_id=?"). The ids arrive as one JSON array.
  const handledRows = db.prepare<[string], { event_id: string; consumer: string; processed_at: string }>(
    `WITH RECURSIVE consumers(name) AS (
       SELECT min(consumer) FROM inbox
       UNION ALL
       SELECT (SELECT min(consumer) FROM inbox WHERE consumer > name) FROM consumers WHERE name IS NOT NULL
     )
     SELECT inbox.event_id, inbox.consumer, inbox.processed_at
       FROM consumers CROSS JOIN json_each(?) AS id CROSS JOIN inbox
      WHERE consumers.name IS NOT NULL AND inbox.consumer = consumers.name AND inbox.event_id = id.value
      ORDER BY inbox.processed_at`,
  );
  return {
    listAggregateEvents(request) {
      if (request.subject === "" || request.subject.length > 128) {
        throw new ConnectError("subject: must be 1 to 128 characters", Code.InvalidArgument);
      }
      if (request.eventIds.length > MAX_EVENT_IDS) {
        throw new ConnectError(`event_ids: at most ${MAX_EVENT_IDS} ids, got ${request.eventIds.length}`, Code.InvalidArgument);
      }
      const events = aggregateRows.all(request.subject).map((row) => ({
        eventId: row.event_id,
        eventType: row.event_type,
        topic: row.topic,
        state: OUTBOX_STATES[row.state] ?? OutboxState.UNSPECIFIED,
        timesSent: row.times_sent,
        lastError: row.last_error ?? "",
        createTime: timestampFromDate(new Date(row.created_at)),
        ...(row.published_at === null ? {} : { publishTime: timestampFromDate(new Date(row.published_at)) }),
        ...(row.kafka_partition === null || row.kafka_offset === null
          ? {}
          : { partition: row.kafka_partition, offset: BigInt(row.kafka_offset) }),
        traceparent: row.traceparent ?? "",
      }));
      const handled =
        request.eventIds.length === 0
          ? []
          : handledRows.all(JSON.stringify(request.eventIds)).map((row) => ({
              eventId: row.event_id,
              consumer: row.consumer,
              handleTime: timestampFromDate(new Date(row.processed_at)),
            }));
      return { service, events, handled };
    },
    async getCommandQueues(request) {
      if (request.subject.length > 128) throw new ConnectError("subject: must be at most 128 characters", Code.InvalidArgument);
      if (request.parkedLimit < 0) throw new ConnectError("parked_limit: must not be negative", Code.InvalidArgument);
      const limit = Math.min(MAX_PARKED_LIMIT, request.parkedLimit || DEFAULT_PARKED_LIMIT);
      const { bus, queues } = options.commands ?? { bus: undefined, queues: [] };
      if (bus === undefined) return { service, queues: [] };
      try {
        return {
          service,
          queues: await Promise.all(
            queues.map(async (queue) => {
              const figures = await bus.figures(queue);
              // Only when there is something to read: listing takes the parking lot's messages and puts them back.
              const parked = figures.parked === 0 ? [] : await bus.parked(queue, { limit: PARKED_SCAN });
              const latest = parked
                .filter((entry) => request.subject === "" || entry.command?.subject === request.subject)
                .sort((a, b) => b.parkedAt.getTime() - a.parkedAt.getTime())
                .slice(0, limit);
              return {
                queue,
                ready: BigInt(figures.ready),
                unacked: BigInt(figures.unacked),
                retrying: BigInt(figures.retrying),
                parked: BigInt(figures.parked),
                latestParked: latest.map((entry) => ({
                  messageId: entry.messageId,
                  type: entry.command?.type ?? "",
                  subject: entry.command?.subject ?? "",
                  reason: entry.reason,
                  attempts: entry.attempts,
                  ...(Number.isNaN(entry.parkedAt.getTime()) ? {} : { parkTime: timestampFromDate(entry.parkedAt) }),
                })),
              };
            }),
          ),
        };
      } catch (error) {
        throw new ConnectError(`command broker: ${error instanceof Error ? error.message : String(error)}`, Code.Unavailable);
      }
    },
    getEventStatus() {
      const counts = outbox.get() ?? { pending: 0, failed: 0, published: 0, oldest_pending: null };
      return {
        service,
        outboxPending: BigInt(counts.pending),
        outboxFailed: BigInt(counts.failed),
        outboxPublished: BigInt(counts.published),
        ...(counts.oldest_pending === null ? {} : { oldestPendingTime: timestampFromDate(new Date(counts.oldest_pending)) }),
        inboxProcessed: BigInt(inbox.get()?.n ?? 0),
      };
    },
  };
}

/** opsService is the OpsService registration a service's createServer adds next to its domain service. */
export function opsService(options: OpsServiceOptions): ServiceRegistration {
  return implement(OpsService, createOpsServiceImpl(options));
}
