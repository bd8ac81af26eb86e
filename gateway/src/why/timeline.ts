/**
 * buildTimeline gathers one order's story from every place it left a trace, each source on a short timeout and
 * failing soft (a source that does not answer becomes a line and a `sources` entry, never an error): the order and
 * its status history, the reservation, the payments, every service's outbox rows about the order (OpsService), the
 * consumer groups' committed offsets against each event's offset, the dead letters, the emails the notification
 * service sent and the order's commands in a parking lot, and the spans of the order's traces (Zipkin). The entries are sorted by time and the diagnosis (diagnosis.ts) closes it.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { diagnose, shortName } from "./diagnosis.js";
import type {
  ConsumerPosition,
  DeadLetterFacts,
  EventFacts,
  NotificationFacts,
  OrderFacts,
  ParkedCommandFacts,
  PaymentFacts,
  ReservationFacts,
  SourceReport,
  SpanFacts,
  Timeline,
  TimelineEntry,
  TimelineFacts,
} from "./model.js";

/** OutboxRow is one service's outbox row about the order, before consumers are known. */
export type OutboxRow = Omit<EventFacts, "consumers" | "service" | "name">;

/** GroupView is one consumer group: its state, members and committed offsets per topic and partition. */
export interface GroupView {
  readonly groupId: string;
  readonly service: string;
  readonly state: string;
  readonly members: number;
  /** committed maps `topic/partition` to the committed offset ("-1": nothing committed). */
  readonly committed: ReadonlyMap<string, string>;
  /** topics are the topics the group consumes. */
  readonly topics: readonly string[];
}

/** HandledRow is one inbox entry: a service's consumer handled an event. */
export interface HandledRow {
  readonly service: string;
  readonly eventId: string;
  readonly consumer: string;
  readonly time: string;
}

/**
 * TimelineSources are where the facts come from. `order` may throw a ConnectError (NOT_FOUND, PERMISSION_DENIED),
 * which the caller turns into the HTTP answer; every other source's failure only marks it unavailable.
 */
export interface TimelineSources {
  order(orderId: string): Promise<OrderFacts>;
  reservation(orderId: string): Promise<ReservationFacts | null>;
  payments(orderId: string): Promise<PaymentFacts[]>;
  /** services are the services whose outboxes and inboxes to ask (order, payment, inventory). */
  readonly services: readonly string[];
  outbox(service: string, subject: string): Promise<OutboxRow[]>;
  /** handled asks a service's inbox which of the events its consumers handled (subject: the order, for the request). */
  handled(service: string, subject: string, eventIds: readonly string[]): Promise<HandledRow[]>;
  groups(topics: readonly string[]): Promise<GroupView[]>;
  deadLetters(subject: string): Promise<DeadLetterFacts[]>;
  /** notifications are the emails sent about the order (NotificationService). */
  notifications(orderId: string): Promise<NotificationFacts[]>;
  /** parkedCommands are the order's commands in the parking lots (the consumer's OpsService/GetCommandQueues). */
  parkedCommands(orderId: string): Promise<ParkedCommandFacts[]>;
  spans(traceIds: readonly string[]): Promise<SpanFacts[]>;
}

/** buildTimeline gathers, orders and diagnoses one order's timeline; it rejects only when the order itself cannot be read. */
export async function buildTimeline(orderId: string, sources: TimelineSources, now = new Date()): Promise<Timeline> {
  const reports: SourceReport[] = [];
  const soft = async <T>(source: string, fallback: T, read: () => Promise<T>): Promise<T> => {
    try {
      const value = await read();
      reports.push({ source, ok: true });
      return value;
    } catch (error) {
      reports.push({ source, ok: false, error: messageOf(error) });
      return fallback;
    }
  };

  const orderPromise = sources.order(orderId);
  // The order decides the answer (404/403); start the rest meanwhile, but only use them once it is known.
  orderPromise.catch(() => undefined);
  const reservationPromise = soft("inventory", null, () => sources.reservation(orderId));
  const paymentsPromise = soft("payment", [] as PaymentFacts[], () => sources.payments(orderId));
  const deadLettersPromise = soft("dead letters", [] as DeadLetterFacts[], () => sources.deadLetters(orderId));
  const notificationsPromise = soft("notification", [] as NotificationFacts[], () => sources.notifications(orderId));
  const parkedPromise = soft("command queues", [] as ParkedCommandFacts[], () => sources.parkedCommands(orderId));
  const outboxPromise = Promise.all(
    sources.services.map(async (service) => ({
      service,
      rows: await soft(`${service} outbox`, [] as OutboxRow[], () => sources.outbox(service, orderId)),
    })),
  );
  const order = await orderPromise;

  const outboxes = await outboxPromise;
  const rows = outboxes.flatMap(({ service, rows: serviceRows }) => serviceRows.map((row) => ({ ...row, service })));
  const eventIds = rows.map((row) => row.eventId);
  const topics = [...new Set(rows.map((row) => row.topic))];
  const traceIds = [...new Set(rows.map((row) => row.traceId).filter((id): id is string => id !== null))];
  const [handled, groups, spans] = await Promise.all([
    Promise.all(
      sources.services.map((service) =>
        eventIds.length === 0 ? [] : soft(`${service} inbox`, [] as HandledRow[], () => sources.handled(service, orderId, eventIds)),
      ),
    ).then((lists) => lists.flat()),
    topics.length === 0 ? [] : soft("kafka", [] as GroupView[], () => sources.groups(topics)),
    traceIds.length === 0 ? [] : soft("zipkin", [] as SpanFacts[], () => sources.spans(traceIds)),
  ]);
  const events: EventFacts[] = rows.map((row) => ({ ...row, name: shortName(row.type), consumers: positionsOf(row, groups, handled) }));

  const facts: TimelineFacts = {
    order,
    reservation: await reservationPromise,
    payments: await paymentsPromise,
    events,
    deadLetters: await deadLettersPromise,
    notifications: await notificationsPromise,
    parkedCommands: await parkedPromise,
    spans,
    sources: reports.sort((a, b) => a.source.localeCompare(b.source)),
  };
  return {
    orderId,
    generatedAt: now.toISOString(),
    ...facts,
    entries: entriesOf(facts, now),
    diagnosis: diagnose(facts),
  };
}

/** positionsOf places every group that consumes the event's topic against the event's offset. */
export function positionsOf(
  row: OutboxRow & { service: string },
  groups: readonly GroupView[],
  handled: readonly HandledRow[],
): ConsumerPosition[] {
  if (row.partition === null || row.offset === null) return [];
  const offset = BigInt(row.offset);
  return groups
    .filter((group) => group.topics.includes(row.topic))
    .map((group) => {
      const raw = group.committed.get(`${row.topic}/${row.partition}`) ?? "-1";
      const committed = raw === "-1" ? null : BigInt(raw);
      const passed = committed !== null && committed > offset;
      const mine = handled.filter((entry) => entry.service === group.service && entry.eventId === row.eventId);
      return {
        groupId: group.groupId,
        service: group.service,
        committed: committed === null ? null : committed.toString(),
        passed,
        behind: committed === null ? null : passed ? 0 : Number(offset - committed + 1n),
        state: group.state,
        members: group.members,
        handledBy: mine.map((entry) => entry.consumer),
        handledAt: mine[0]?.time ?? null,
      };
    });
}

/** entriesOf turns the facts into timeline lines, oldest first; sources that did not answer come last, at `now`. */
export function entriesOf(facts: TimelineFacts, now: Date): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  const add = (time: string | null, source: string, service: string, text: string, level: TimelineEntry["level"] = "info") => {
    if (time) entries.push({ time, source, service, text, level });
  };
  for (const change of facts.order.history) {
    add(change.time, "order", "order", `order ${change.status}${change.reason ? `: ${change.reason}` : ""}`);
  }
  if (facts.reservation) {
    add(facts.reservation.createTime, "reservation", "inventory", "stock reserved");
    if (facts.reservation.updateTime !== facts.reservation.createTime) {
      add(facts.reservation.updateTime, "reservation", "inventory", `reservation ${facts.reservation.status}`);
    }
  }
  for (const payment of facts.payments) {
    const why = payment.declineReason ? `: ${payment.declineReason}` : "";
    add(
      payment.createTime,
      "payment",
      "payment",
      `payment ${payment.paymentId} ${payment.status}${why}`,
      payment.status === "DECLINED" ? "warn" : "info",
    );
  }
  for (const event of facts.events) {
    add(event.createTime, "outbox", event.service, `${event.name} written to ${event.service}'s outbox`);
    if (event.state === "PUBLISHED") {
      const where = event.partition === null ? "" : ` partition ${event.partition} offset ${event.offset}`;
      add(event.publishTime, "outbox", event.service, `${event.name} published to ${event.topic}${where}`);
    } else {
      const error = event.lastError ? `: ${event.lastError}` : "";
      entries.push({
        time: event.createTime,
        source: "outbox",
        service: event.service,
        text: `${event.name} not published yet (${event.state}, ${event.timesSent} sends${error})`,
        level: event.state === "FAILED" ? "error" : "warn",
      });
    }
    for (const consumer of event.consumers) {
      if (consumer.handledAt !== null) {
        add(consumer.handledAt, "consumer", consumer.service, `${event.name} handled by ${consumer.handledBy.join(", ")}`);
      } else if (!consumer.passed) {
        const state = consumer.members === 0 ? ` (group ${consumer.state}, no members: stopped)` : "";
        const behind = consumer.behind === null ? "nothing committed yet" : `${consumer.behind.toLocaleString("en-US")} events behind it`;
        entries.push({
          time: now.toISOString(),
          source: "consumer",
          service: consumer.service,
          text: `${consumer.groupId} has not reached ${event.name}: ${behind}${state}`,
          level: "warn",
        });
      }
    }
  }
  for (const letter of facts.deadLetters) {
    add(
      letter.time,
      "dlq",
      letter.consumer,
      `${shortName(letter.type)} dead-lettered to ${letter.dlqTopic} by ${letter.consumer} after ${letter.attempts} attempts: ${letter.error}`,
      "error",
    );
  }
  for (const email of facts.notifications) {
    const tries = email.attempts > 1 ? ` on try ${email.attempts}` : "";
    add(email.sendTime, "notification", "notification", `email "${email.subject}" sent to ${email.recipient}${tries}`);
  }
  for (const parked of facts.parkedCommands) {
    add(
      parked.time,
      "parked",
      "notification",
      `${shortName(parked.type) || "a malformed command"} parked in ${parked.queue}.parked after ${parked.attempts} attempts: ${parked.reason}`,
      "error",
    );
  }
  for (const span of facts.spans) {
    const error = span.error ? `: ${span.error}` : "";
    add(
      span.time,
      "span",
      span.service,
      `${span.kind ? `${span.kind} ` : ""}${span.name} ${span.durationMs} ms${error}`,
      span.error ? "warn" : "info",
    );
  }
  const ordered = entries.sort((a, b) => a.time.localeCompare(b.time));
  for (const source of facts.sources) {
    if (!source.ok)
      ordered.push({
        time: now.toISOString(),
        source: "source",
        service: source.source,
        text: `${source.source} not reachable: ${source.error ?? "no answer"}`,
        level: "warn",
      });
  }
  return ordered;
}

/** withTimeout bounds one source's read. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  if (error instanceof ConnectError) return `${Code[error.code]}: ${error.rawMessage}`;
  return error instanceof Error ? error.message : String(error);
}
