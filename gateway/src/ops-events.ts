/**
 * `GET /ops/events`: the JSON behind the web UI's events panel — the latest events per topic, each service
 * consumer group's lag, the dead-letter counts, each service's outbox backlog and each command queue's figures with
 * its latest parked commands (asked of the consumer, OpsService/GetCommandQueues). It only reads: its own consumer
 * group is unique per gateway process and never commits, so it cannot move any service's position.
 */
import type { ConnectionOptions } from "node:tls";
import type { Client } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Admin, Kafka } from "kafkajs";
import type { Logger } from "pino";
import type { OpsService } from "#gen/shop/ops/v1/ops_service_pb.js";
import { createKafkaClient } from "#shared/events/kafka-client.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { httpError, writeErrorEnvelope } from "./errors.js";
import { pathOf, sendJson, type HttpHandler } from "./http-handler.js";
import { remember, TopicFollower, type EventSummary } from "./ops-topic-follower.js";
import { requestContext } from "./request-context.js";

export type { EventSummary } from "./ops-topic-follower.js";

/** TopicReport is one event topic: its latest events (oldest first) and how many messages it retains. */
export interface TopicReport {
  readonly topic: string;
  readonly recent: readonly EventSummary[];
  readonly retained: number | null;
}

/** GroupReport is one service consumer group: total lag and per topic (null where nothing is committed yet). */
export interface GroupReport {
  readonly groupId: string;
  /** service is the group id's last segment (`shopmesh-order` → `order`). */
  readonly service: string;
  readonly state: string;
  readonly members: number;
  readonly lag: number | null;
  readonly topics: readonly { readonly topic: string; readonly lag: number | null }[];
  readonly error?: string;
}

/** DeadLetterReport is one `.dlq` topic, how many dead letters it retains and the latest of them (oldest first). */
export interface DeadLetterReport {
  readonly topic: string;
  readonly sourceTopic: string;
  readonly count: number | null;
  readonly recent: readonly EventSummary[];
}

/** OutboxReport is one service's answer to shop.ops.v1.OpsService/GetEventStatus, or why there is none. */
export interface OutboxReport {
  readonly service: string;
  readonly available: boolean;
  readonly pending: number;
  readonly failed: number;
  readonly published: number;
  readonly oldestPendingTime: string | null;
  readonly inboxProcessed: number;
  readonly error?: string;
}

/** ParkedCommandReport is one command in a parking lot; `subject` is the order id the UI links to its timeline. */
export interface ParkedCommandReport {
  readonly messageId: string;
  readonly type: string;
  readonly subject: string;
  readonly reason: string;
  readonly attempts: number;
  readonly parkTime: string | null;
}

/** CommandQueueReport is one command queue's figures as its consumer reports them, or why there are none. */
export interface CommandQueueReport {
  readonly service: string;
  readonly queue: string;
  readonly available: boolean;
  readonly ready: number;
  readonly unacked: number;
  readonly retrying: number;
  readonly parked: number;
  readonly latestParked: readonly ParkedCommandReport[];
  readonly error?: string;
}

/** OpsEventsReport is the whole `GET /ops/events` body. */
export interface OpsEventsReport {
  readonly generatedAt: string;
  readonly kafka: { readonly available: boolean; readonly consumerReady: boolean; readonly error?: string };
  readonly topics: readonly TopicReport[];
  readonly consumerGroups: readonly GroupReport[];
  readonly deadLetters: readonly DeadLetterReport[];
  readonly outbox: readonly OutboxReport[];
  readonly commandQueues: readonly CommandQueueReport[];
}

/** OpsBackend is one service's OpsService client (the order, payment and inventory services each serve one). */
export interface OpsBackend {
  readonly service: string;
  readonly client: Pick<Client<typeof OpsService>, "getEventStatus">;
}

/** CommandBackend is a command consumer's OpsService client (the notification service's). */
export interface CommandBackend {
  readonly service: string;
  readonly client: Pick<Client<typeof OpsService>, "getCommandQueues">;
}

/** OpsEventsDeps configures createOpsEventsHandler. */
export interface OpsEventsDeps {
  readonly kafkaBrokers: readonly string[];
  /** kafkaSsl connects to the brokers over TLS (the gateway's certificate, KAFKA_TLS=1); undefined: plaintext. */
  readonly kafkaSsl?: ConnectionOptions | undefined;
  /** groupIds are the service consumer groups whose lag to show (config KAFKA_GROUP_IDS). */
  readonly groupIds: readonly string[];
  readonly backends: readonly OpsBackend[];
  /** commandBackends are the command consumers whose queues to show (none by default). */
  readonly commandBackends?: readonly CommandBackend[];
  readonly logger: Logger;
  /** topics are the event topics to follow (default: the three domain topics); their `.dlq` twins are counted. */
  readonly topics?: readonly string[];
  /** recentPerTopic is how many summaries to keep per topic (default 50). */
  readonly recentPerTopic?: number;
  /** timeoutMs bounds each broker or backend call of one report (default 3 s), so a dead dependency shows as such. */
  readonly timeoutMs?: number;
  /** kafka replaces the client built from kafkaBrokers (tests). */
  readonly kafka?: Kafka;
  /**
   * idleStopMs: the topic follower (and the admin connection) stop after this long without a request (default
   * 5 min); the next request starts them again, and the follower's rewind at join brings recent history back.
   */
  readonly idleStopMs?: number;
}

/**
 * OpsEventsHandler is the handler plus its lifecycle: `ready()` starts following (if not yet) and resolves once the
 * consumer has joined, `close()` disconnects.
 */
export type OpsEventsHandler = HttpHandler & {
  ready(): Promise<void>;
  close(): Promise<void>;
  /**
   * deadLettersOf returns the dead letters whose subject is `subject`, oldest first (the order timeline's source). It
   * starts the follower like a request does and waits for it to have read the DLQs; up to DLQ_KEEP per DLQ are known.
   */
  deadLettersOf(subject: string): Promise<EventSummary[]>;
};

/**
 * DLQ_KEEP is how many dead letters per DLQ the follower keeps (and rewinds over at join): all of them, in practice.
 * Dead letters are rare and each waits for a person, so the timeline must find an old one, not just the latest 50.
 */
const DLQ_KEEP = 1000;

/** OPS_EVENTS_PATH is where the report is served. */
const OPS_EVENTS_PATH = "/ops/events";

/**
 * createOpsEventsHandler answers `GET /ops/events`. It follows the event topics in the background only while
 * someone asks: the first request starts the follower (a Kafka outage is retried, never fatal) and waits a little
 * for it to join, and `idleStopMs` without requests stops it again — a gateway with no UI open spends nothing on
 * decoding the shop's events (it did ~2 % of its CPU under P3 before). Each part of the report degrades on its own: a backend that
 * is down is reported unavailable, a broker that is down sets `kafka.available=false`; the answer is always 200.
 */
export function createOpsEventsHandler(deps: OpsEventsDeps): OpsEventsHandler {
  const topics = deps.topics ?? Object.values(Topics);
  const dlqTopics = topics.map(dlqTopicOf);
  const dlqTopicSet = new Set(dlqTopics);
  const keepOf = (topic: string) => (dlqTopicSet.has(topic) ? DLQ_KEEP : (deps.recentPerTopic ?? 50));
  const timeoutMs = deps.timeoutMs ?? 3000;
  const logger = deps.logger.child({ component: "ops-events" });
  const kafka =
    deps.kafka ?? createKafkaClient({ brokers: deps.kafkaBrokers, clientId: "shopmesh-gateway-ops", logger, ssl: deps.kafkaSsl });
  const recent = new Map<string, EventSummary[]>([...topics, ...dlqTopics].map((topic) => [topic, []]));
  const idleStopMs = deps.idleStopMs ?? 5 * 60_000;
  let follower: TopicFollower | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let admin: Admin | undefined;
  let pending: Promise<OpsEventsReport> | undefined;
  let closed = false;

  /** follow starts the follower unless it runs, and (re)arms the idle stop; it returns the running follower. */
  const follow = (): { follower: TopicFollower; fresh: boolean } => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => void idle(), idleStopMs);
    idleTimer.unref();
    if (follower) return { follower, fresh: false };
    follower = new TopicFollower(kafka, [...topics, ...dlqTopics], keepOf, logger, (topic, summary) =>
      remember(recent, topic, summary, keepOf(topic)),
    );
    follower.start();
    logger.debug("ops events follower started");
    return { follower, fresh: true };
  };
  const stopFollowing = async () => {
    clearTimeout(idleTimer);
    const running = follower;
    follower = undefined;
    const connected = admin;
    admin = undefined;
    await running?.stop();
    await connected?.disconnect().catch(() => undefined);
  };
  const idle = async () => {
    logger.debug({ idleStopMs }, "ops events follower stopped: no requests");
    await stopFollowing();
  };
  const consumerReady = () => follower?.isReady ?? false;

  const connectedAdmin = async (): Promise<Admin> => {
    if (admin) return admin;
    const created = kafka.admin();
    await created.connect();
    admin = created;
    return created;
  };

  const buildReport = async (): Promise<OpsEventsReport> => {
    const outboxPromise = Promise.all(deps.backends.map((backend) => outboxOf(backend, timeoutMs)));
    const queuesPromise = Promise.all((deps.commandBackends ?? []).map((backend) => commandQueuesOf(backend, timeoutMs))).then((all) =>
      all.flat(),
    );
    let kafkaPart: Pick<OpsEventsReport, "kafka" | "topics" | "consumerGroups" | "deadLetters">;
    try {
      kafkaPart = await withTimeout(
        kafkaReport(
          await withTimeout(connectedAdmin(), timeoutMs, "Kafka admin connect"),
          topics,
          deps.groupIds,
          recent,
          consumerReady(),
          deps.recentPerTopic ?? 50,
        ),
        timeoutMs,
        "Kafka admin",
      );
    } catch (error) {
      // Drop the admin: its connection may be the broken part; the next request reconnects.
      const stale = admin;
      admin = undefined;
      void stale?.disconnect().catch(() => undefined);
      kafkaPart = {
        kafka: { available: false, consumerReady: consumerReady(), error: messageOf(error) },
        topics: topics.map((topic) => ({ topic, recent: [...(recent.get(topic) ?? [])], retained: null })),
        consumerGroups: deps.groupIds.map((groupId) => ({
          groupId,
          service: serviceOf(groupId),
          state: "unknown",
          members: 0,
          lag: null,
          topics: [],
          error: "Kafka unavailable",
        })),
        deadLetters: topics.map((topic) => ({
          topic: dlqTopicOf(topic),
          sourceTopic: topic,
          count: null,
          recent: lastOf(recent.get(dlqTopicOf(topic)), deps.recentPerTopic ?? 50),
        })),
      };
    }
    return { generatedAt: new Date().toISOString(), ...kafkaPart, outbox: await outboxPromise, commandQueues: await queuesPromise };
  };

  const handler: HttpHandler = async (req, res) => {
    if (pathOf(req) !== OPS_EVENTS_PATH) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      writeErrorEnvelope(
        res,
        httpError(405, Code.Unimplemented, `${req.method} ${OPS_EVENTS_PATH}: only GET is allowed`),
        requestContext(req).traceId,
      );
      return true;
    }
    // After close() (the gateway is stopping) nothing is started again.
    const started = closed ? undefined : follow();
    // A follower started by this request gets a moment to join and rewind, so the first answer shows history.
    if (started?.fresh) await withTimeout(started.follower.ready, timeoutMs, "ops events consumer").catch(() => undefined);
    // Single flight: concurrent polls (several open UIs) share one round of broker and backend calls.
    pending ??= buildReport().finally(() => {
      pending = undefined;
    });
    sendJson(res, 200, await pending, { "cache-control": "no-store" });
    return true;
  };

  return Object.assign(handler, {
    ready: () => follow().follower.ready,
    deadLettersOf: async (subject: string) => {
      if (closed) return [];
      const { follower: running } = follow();
      await withTimeout(running.ready, timeoutMs, "the dead-letter follower");
      // Joined and rewound; the rewound records arrive with the next fetches. Wait until each DLQ has been read to
      // its end as of now, so a dead letter that exists is not missed because the fetch was still in flight.
      await caughtUp(await withTimeout(connectedAdmin(), timeoutMs, "Kafka admin connect"), dlqTopics, recent, timeoutMs);
      return dlqTopics.flatMap((topic) => (recent.get(topic) ?? []).filter((summary) => summary.subject === subject));
    },
    close: async () => {
      closed = true;
      await stopFollowing();
    },
  });
}

async function kafkaReport(
  admin: Admin,
  topics: readonly string[],
  groupIds: readonly string[],
  recent: Map<string, EventSummary[]>,
  consumerReady: boolean,
  keep: number,
): Promise<Pick<OpsEventsReport, "kafka" | "topics" | "consumerGroups" | "deadLetters">> {
  const ends = new Map<string, { partition: number; low: string; high: string }[]>();
  await Promise.all(
    [...topics, ...topics.map(dlqTopicOf)].map(async (topic) => {
      ends.set(topic, await admin.fetchTopicOffsets(topic).catch(() => []));
    }),
  );
  const retainedOf = (topic: string): number | null => {
    const partitions = ends.get(topic);
    if (!partitions || partitions.length === 0) return null;
    return partitions.reduce((sum, p) => sum + Number(BigInt(p.high) - BigInt(p.low)), 0);
  };
  const described = await admin.describeGroups([...groupIds]).catch(() => ({ groups: [] }));
  const consumerGroups = await Promise.all(
    groupIds.map(async (groupId): Promise<GroupReport> => {
      const description = described.groups.find((group) => group.groupId === groupId);
      const base = {
        groupId,
        service: serviceOf(groupId),
        state: description?.state ?? "unknown",
        members: description?.members.length ?? 0,
      };
      try {
        const committed = await admin.fetchOffsets({ groupId });
        const perTopic = committed
          .filter((entry) => ends.has(entry.topic))
          .map(({ topic, partitions }) => {
            let lag: number | null = null;
            for (const { partition, offset } of partitions) {
              const end = ends.get(topic)?.find((p) => p.partition === partition);
              if (!end || offset === "-1") continue; // nothing committed on this partition yet
              lag = (lag ?? 0) + Math.max(0, Number(BigInt(end.high) - BigInt(offset)));
            }
            return { topic, lag };
          });
        const lags = perTopic.map((entry) => entry.lag).filter((lag): lag is number => lag !== null);
        return { ...base, lag: lags.length > 0 ? lags.reduce((a, b) => a + b, 0) : null, topics: perTopic };
      } catch (error) {
        return { ...base, lag: null, topics: [], error: messageOf(error) };
      }
    }),
  );
  return {
    kafka: { available: true, consumerReady },
    topics: topics.map((topic) => ({ topic, recent: [...(recent.get(topic) ?? [])], retained: retainedOf(topic) })),
    consumerGroups,
    deadLetters: topics.map((topic) => ({
      topic: dlqTopicOf(topic),
      sourceTopic: topic,
      count: retainedOf(dlqTopicOf(topic)),
      recent: lastOf(recent.get(dlqTopicOf(topic)), keep),
    })),
  };
}

/** commandQueuesOf asks one consumer for its queues; down, it is one unavailable row naming the service. */
async function commandQueuesOf(backend: CommandBackend, timeoutMs: number): Promise<CommandQueueReport[]> {
  try {
    const answer = await backend.client.getCommandQueues({ parkedLimit: 5 }, { timeoutMs });
    return answer.queues.map((queue) => ({
      service: answer.service || backend.service,
      queue: queue.queue,
      available: true,
      ready: Number(queue.ready),
      unacked: Number(queue.unacked),
      retrying: Number(queue.retrying),
      parked: Number(queue.parked),
      latestParked: queue.latestParked.map((entry) => ({
        messageId: entry.messageId,
        type: entry.type,
        subject: entry.subject,
        reason: entry.reason,
        attempts: entry.attempts,
        parkTime: entry.parkTime ? timestampDate(entry.parkTime).toISOString() : null,
      })),
    }));
  } catch (error) {
    const reason = error instanceof ConnectError ? `${Code[error.code]}: ${error.rawMessage}` : messageOf(error);
    return [
      {
        service: backend.service,
        queue: "",
        available: false,
        ready: 0,
        unacked: 0,
        retrying: 0,
        parked: 0,
        latestParked: [],
        error: reason,
      },
    ];
  }
}

async function outboxOf(backend: OpsBackend, timeoutMs: number): Promise<OutboxReport> {
  try {
    const status = await backend.client.getEventStatus({}, { timeoutMs });
    return {
      service: status.service || backend.service,
      available: true,
      pending: Number(status.outboxPending),
      failed: Number(status.outboxFailed),
      published: Number(status.outboxPublished),
      oldestPendingTime: status.oldestPendingTime ? timestampDate(status.oldestPendingTime).toISOString() : null,
      inboxProcessed: Number(status.inboxProcessed),
    };
  } catch (error) {
    const reason = error instanceof ConnectError ? `${Code[error.code]}: ${error.rawMessage}` : messageOf(error);
    return {
      service: backend.service,
      available: false,
      pending: 0,
      failed: 0,
      published: 0,
      oldestPendingTime: null,
      inboxProcessed: 0,
      error: reason,
    };
  }
}

/** lastOf is the newest `n` summaries of a list kept oldest first. */
function lastOf(list: readonly EventSummary[] | undefined, n: number): EventSummary[] {
  return (list ?? []).slice(-n);
}

/**
 * caughtUp resolves once the follower has seen the last record of every partition of `topics` as of now (the end
 * offsets read first), polling the summaries it keeps; it rejects after `timeoutMs`.
 */
async function caughtUp(admin: Admin, topics: readonly string[], recent: Map<string, EventSummary[]>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ends = await withTimeout(
    Promise.all(topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) }))),
    timeoutMs,
    "Kafka admin",
  );
  const missing = () =>
    ends.some(({ topic, offsets }) =>
      offsets.some(({ partition, low, high }) => {
        if (BigInt(high) <= BigInt(low)) return false;
        const last = BigInt(high) - 1n;
        return !(recent.get(topic) ?? []).some((summary) => summary.partition === partition && BigInt(summary.offset) >= last);
      }),
    );
  while (missing()) {
    if (Date.now() > deadline) throw new Error(`the dead-letter follower had not read ${topics.join(", ")} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** serviceOf names a group by its last segment: `shopmesh-order` and `test-<run>-order` are both `order`. */
function serviceOf(groupId: string): string {
  return groupId.split("-").pop() || groupId;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** messageOf is an error's message, for the report. */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
