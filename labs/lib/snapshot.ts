/**
 * The lab's view of the mesh after a run: the services' SQLite files opened read-only (never through their RPCs, which
 * could hide what is stored) and every message on the event and DLQ topics of the lab's own broker.
 */
import Database from "better-sqlite3";
import type { Admin, Kafka } from "kafkajs";
import { existsSync } from "node:fs";
import path from "node:path";
import { TOPIC_SPECS } from "#shared/events/topics.js";
import { listDeadLetters } from "../../scripts/dlq.js";
import type { GrpcProcessName, ServiceName } from "../../scripts/mesh/mesh.js";
import type { EmailKind, EmailSnapshot } from "./emails.js";
import type { DeadLetterRecord, LabSnapshot, OrderState } from "./reconcile.js";

/** ALL_TOPICS are the event topics and their DLQ twins. */
const ALL_TOPICS: readonly string[] = TOPIC_SPECS.map((spec) => spec.name);

/** databasePath is where the kit keeps a service's SQLite file under the mesh's data root. */
export function databasePath(dataRoot: string, service: GrpcProcessName): string {
  return path.join(dataRoot, service, `${service}.db`);
}

/** readOnly opens a service's database read-only; the service may still be writing (WAL lets it). */
export function readOnly<T>(dataRoot: string, service: GrpcProcessName, read: (db: Database.Database) => T): T {
  const file = databasePath(dataRoot, service);
  if (!existsSync(file)) throw new Error(`${service} has no database at ${file}`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    return read(db);
  } finally {
    db.close();
  }
}

/** pendingOrders lists orders still AWAITING_PAYMENT. */
export function pendingOrders(dataRoot: string): string[] {
  return readOnly(dataRoot, "order", (db) =>
    (db.prepare(`SELECT order_id FROM orders WHERE status = 'AWAITING_PAYMENT'`).all() as { order_id: string }[]).map((r) => r.order_id),
  );
}

/** unpublishedOutboxRows counts outbox rows not yet PUBLISHED (events and commands), over the three services. */
export function unpublishedOutboxRows(dataRoot: string): number {
  let total = 0;
  for (const service of ["order", "payment", "inventory"] as const) {
    total += readOnly(
      dataRoot,
      service,
      (db) => (db.prepare(`SELECT count(*) AS n FROM outbox WHERE state <> 'PUBLISHED'`).get() as { n: number }).n,
    );
  }
  return total;
}

/** heldReservations counts reservations still HELD (stock set aside for an order that is not terminal, or for none). */
export function heldReservations(dataRoot: string): number {
  return readOnly(
    dataRoot,
    "inventory",
    (db) => (db.prepare(`SELECT count(*) AS n FROM reservations WHERE status = 'HELD'`).get() as { n: number }).n,
  );
}

/**
 * consumerLag is how many events the services' consumer groups have yet to handle: per group, per partition of
 * each topic it consumes, the topic's end minus the group's committed offset. The lab commits every group at the
 * ends when it starts, so a partition with no committed offset never happens; one counts as all its events.
 */
export async function consumerLag(
  admin: Admin,
  groupIds: Readonly<Record<ServiceName, string>>,
  consumed: Readonly<Record<ServiceName, readonly string[]>>,
): Promise<number> {
  let lag = 0n;
  for (const service of ["order", "payment", "inventory"] as const) {
    for (const topic of consumed[service]) {
      const [ends, [committed]] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId: groupIds[service], topics: [topic] }),
      ]);
      for (const { partition, high, low } of ends) {
        const at = committed?.partitions.find((p) => p.partition === partition)?.offset ?? "-1";
        const from = BigInt(at) < 0n ? BigInt(low) : BigInt(at);
        if (BigInt(high) > from) lag += BigInt(high) - from;
      }
    }
  }
  return Number(lag);
}

/** StoredState is the databases' part of a LabSnapshot. */
export type StoredState = Pick<LabSnapshot, "orders" | "payments" | "reservations" | "products" | "outbox">;

/** readStoredState reads orders, payments, reservations, stock and the three outboxes. */
export function readStoredState(dataRoot: string): StoredState {
  const outbox: StoredState["outbox"][number][] = [];
  for (const service of ["order", "payment", "inventory"] as const) {
    const rows = readOnly(
      dataRoot,
      service,
      (db) =>
        // Events only: they are what must be on Kafka; command rows (order's, with COMMAND_BUS on) go to RabbitMQ and
        // are judged against the notification service's records (readEmails).
        db
          .prepare(`SELECT event_id AS eventId, topic, event_type AS type, subject, state FROM outbox WHERE kind = 'event' ORDER BY seq`)
          .all() as {
          eventId: string;
          topic: string;
          type: string;
          subject: string;
          state: string;
        }[],
    );
    for (const row of rows) outbox.push({ service, ...row });
  }
  const orders = readOnly(
    dataRoot,
    "order",
    (db) => db.prepare(`SELECT order_id AS orderId, status FROM orders ORDER BY seq`).all() as { orderId: string; status: OrderState }[],
  );
  const payments = readOnly(
    dataRoot,
    "payment",
    (db) =>
      db.prepare(`SELECT payment_id AS paymentId, order_id AS orderId, status FROM payments ORDER BY seq`).all() as StoredState["payments"],
  );
  const { reservations, products } = readOnly(dataRoot, "inventory", (db) => {
    const lines = db.prepare(`SELECT reservation_id AS id, product_id AS productId, quantity FROM reservation_lines`).all() as {
      id: string;
      productId: string;
      quantity: number;
    }[];
    const byReservation = new Map<string, { productId: string; quantity: number }[]>();
    for (const { id, ...line } of lines) byReservation.set(id, [...(byReservation.get(id) ?? []), line]);
    const heads = db.prepare(`SELECT reservation_id AS reservationId, order_id AS orderId, status FROM reservations`).all() as {
      reservationId: string;
      orderId: string;
      status: "HELD" | "COMMITTED" | "RELEASED";
    }[];
    return {
      reservations: heads.map((r) => ({ ...r, lines: byReservation.get(r.reservationId) ?? [] })),
      products: db.prepare(`SELECT product_id AS productId, available, reserved FROM products`).all() as StoredState["products"],
    };
  });
  return { orders, payments, reservations, products, outbox };
}

/** commandsWaiting counts order's command rows not yet PUBLISHED: the emails waiting for RabbitMQ. */
export function commandsWaiting(dataRoot: string): number {
  return readOnly(
    dataRoot,
    "order",
    (db) => (db.prepare(`SELECT count(*) AS n FROM outbox WHERE kind = 'command' AND state <> 'PUBLISHED'`).get() as { n: number }).n,
  );
}

/** terminalOrders counts orders CONFIRMED or CANCELLED. */
export function terminalOrders(dataRoot: string): number {
  return readOnly(
    dataRoot,
    "order",
    (db) => (db.prepare(`SELECT count(*) AS n FROM orders WHERE status <> 'AWAITING_PAYMENT'`).get() as { n: number }).n,
  );
}

/** commandsUnhandled is how many of order's commands the notification service has no record of yet. */
export function commandsUnhandled(dataRoot: string): number {
  const commands = readOnly(
    dataRoot,
    "order",
    (db) => (db.prepare(`SELECT count(*) AS n FROM outbox WHERE kind = 'command'`).get() as { n: number }).n,
  );
  const handled = readOnly(
    dataRoot,
    "notification",
    (db) => (db.prepare(`SELECT count(*) AS n FROM notifications`).get() as { n: number }).n,
  );
  return commands - handled;
}

/** readEmails reads the databases' part of an EmailSnapshot: orders, order's command rows, notification's rows. */
export function readEmails(dataRoot: string): Omit<EmailSnapshot, "mailpit"> {
  const { orders, commands } = readOnly(dataRoot, "order", (db) => ({
    orders: db.prepare(`SELECT order_id AS orderId, status FROM orders ORDER BY seq`).all() as EmailSnapshot["orders"],
    commands: db
      .prepare(`SELECT event_id AS commandId, subject AS orderId, state FROM outbox WHERE kind = 'command' ORDER BY seq`)
      .all() as EmailSnapshot["commands"],
  }));
  const notifications = readOnly(
    dataRoot,
    "notification",
    (db) =>
      db.prepare(`SELECT notification_id AS notificationId, order_id AS orderId, kind FROM notifications ORDER BY seq`).all() as {
        notificationId: string;
        orderId: string;
        kind: EmailKind;
      }[],
  );
  return { orders, commands, notifications };
}

/** KafkaState is the topics' part of a LabSnapshot. */
export type KafkaState = Pick<LabSnapshot, "kafka" | "deadLetters">;

/**
 * readKafka reads the messages on the event and DLQ topics from `since` (the ends when the lab began: a shared lab
 * broker holds earlier labs' messages too) up to the ends now, through the DLQ tool's reader.
 */
export async function readKafka(
  kafka: Kafka,
  since: ReadonlyMap<string, ReadonlyMap<number, string>>,
  timeoutMs = 60_000,
): Promise<KafkaState> {
  const after = (topic: string, partition: number, offset: string) => BigInt(offset) >= BigInt(since.get(topic)?.get(partition) ?? "0");
  const messages = (await listDeadLetters(kafka, ALL_TOPICS, timeoutMs)).filter((m) => after(m.dlqTopic, m.dlqPartition, m.dlqOffset));
  const deadLetters: DeadLetterRecord[] = [];
  const events: { topic: string; id: string }[] = [];
  for (const m of messages) {
    if (m.dlqTopic.endsWith(".dlq")) {
      deadLetters.push({ topic: m.dlqTopic, id: m.id, type: m.type, key: m.key?.toString() ?? "", consumer: m.consumer, error: m.error });
    } else events.push({ topic: m.dlqTopic, id: m.id });
  }
  return { kafka: events, deadLetters };
}
