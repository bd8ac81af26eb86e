import type { Money } from "#shared/money.js";
import type { SqliteDatabase } from "#shared/store/database.js";

/** OrderEmailKind is which order email a notification is. */
export type OrderEmailKind = "CONFIRMED" | "CANCELLED";

/** Notification is one email sent to a customer about an order, as recorded once the SMTP server accepted it. */
export interface Notification {
  /** notificationId is the id of the command that asked for it: one command, at most one row. */
  readonly notificationId: string;
  readonly orderId: string;
  readonly customerId: string;
  readonly kind: OrderEmailKind;
  readonly recipient: string;
  readonly subject: string;
  readonly total: Money;
  readonly reason: string;
  readonly smtpMessageId: string;
  readonly attempts: number;
  readonly sendTime: Date;
}

/** StoredNotification is a notification with its row's place in the table (the page cursor and the watch's). */
export interface StoredNotification extends Notification {
  readonly seq: number;
}

/**
 * notificationSchema is the notifications table. `notification_id` is UNIQUE: a command delivered twice, past the
 * ledger, still records one row. `seq` orders an order's notifications (oldest first) and is the page cursor.
 * Only the email channel exists, so the channel is not a column yet.
 */
export const notificationSchema = [
  `CREATE TABLE IF NOT EXISTS notifications (
     seq             INTEGER PRIMARY KEY AUTOINCREMENT,
     notification_id TEXT NOT NULL UNIQUE,
     order_id        TEXT NOT NULL,
     customer_id     TEXT NOT NULL,
     kind            TEXT NOT NULL CHECK (kind IN ('CONFIRMED','CANCELLED')),
     recipient       TEXT NOT NULL,
     subject         TEXT NOT NULL,
     currency_code   TEXT NOT NULL,
     amount_minor    INTEGER NOT NULL,
     reason          TEXT NOT NULL DEFAULT '',
     smtp_message_id TEXT NOT NULL,
     attempts        INTEGER NOT NULL,
     send_time       TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS notifications_by_order ON notifications (order_id, seq)`,
];

interface Row {
  seq: bigint;
  notification_id: string;
  order_id: string;
  customer_id: string;
  kind: OrderEmailKind;
  recipient: string;
  subject: string;
  currency_code: string;
  amount_minor: bigint;
  reason: string;
  smtp_message_id: string;
  attempts: bigint;
  send_time: string;
}

const COLUMNS = `seq, notification_id, order_id, customer_id, kind, recipient, subject, currency_code, amount_minor, reason,
                 smtp_message_id, attempts, send_time`;

/** NotificationStore is the SQLite access for notifications. */
export class NotificationStore {
  private readonly insertStmt;
  private readonly byId;
  private readonly byOrder;

  constructor(db: SqliteDatabase) {
    this.insertStmt = db.prepare(
      `INSERT INTO notifications (notification_id, order_id, customer_id, kind, recipient, subject, currency_code,
                                  amount_minor, reason, smtp_message_id, attempts, send_time)
       VALUES (@notificationId, @orderId, @customerId, @kind, @recipient, @subject, @currencyCode, @amountMinor, @reason,
               @smtpMessageId, @attempts, @sendTime)
       ON CONFLICT (notification_id) DO NOTHING`,
    );
    // safeIntegers: amounts are int64 on the wire; never round them through a double.
    this.byId = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM notifications WHERE notification_id = ?`).safeIntegers();
    this.byOrder = db
      .prepare<[string, number, number], Row>(`SELECT ${COLUMNS} FROM notifications WHERE order_id = ? AND seq > ? ORDER BY seq LIMIT ?`)
      .safeIntegers();
  }

  /** insert records a sent notification; false when one with this id exists (the command was handled before). */
  insert(notification: Notification): StoredNotification | undefined {
    const result = this.insertStmt.run({
      ...notification,
      currencyCode: notification.total.currencyCode,
      amountMinor: notification.total.amountMinor,
      sendTime: notification.sendTime.toISOString(),
    });
    if (result.changes === 0) return undefined;
    return { ...notification, seq: Number(result.lastInsertRowid) };
  }

  get(notificationId: string): StoredNotification | undefined {
    const row = this.byId.get(notificationId);
    return row && fromRow(row);
  }

  /** ofOrder returns up to `limit` of an order's notifications after `afterSeq`, oldest first. */
  ofOrder(orderId: string, afterSeq: number, limit: number): StoredNotification[] {
    return this.byOrder.all(orderId, afterSeq, limit).map(fromRow);
  }
}

function fromRow(row: Row): StoredNotification {
  return {
    seq: Number(row.seq),
    notificationId: row.notification_id,
    orderId: row.order_id,
    customerId: row.customer_id,
    kind: row.kind,
    recipient: row.recipient,
    subject: row.subject,
    total: { currencyCode: row.currency_code, amountMinor: row.amount_minor },
    reason: row.reason,
    smtpMessageId: row.smtp_message_id,
    attempts: Number(row.attempts),
    sendTime: new Date(row.send_time),
  };
}
