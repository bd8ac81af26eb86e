import type { SqliteDatabase } from "#shared/store/database.js";
import type { Payment, PaymentStatus } from "../domain/payment.js";

/**
 * paymentSchema is the payments table. `seq` orders ListPayments (newest first) and is its page cursor: unlike a
 * timestamp it never ties. `order_id` is UNIQUE: an order is charged at most once, whatever the event log replays
 * (a second OrderCreated for the same order, under another event id, must not charge twice).
 */
export const paymentSchema = [
  `CREATE TABLE IF NOT EXISTS payments (
     seq            INTEGER PRIMARY KEY AUTOINCREMENT,
     payment_id     TEXT NOT NULL UNIQUE,
     order_id       TEXT NOT NULL UNIQUE,
     currency_code  TEXT NOT NULL,
     amount_minor   INTEGER NOT NULL,
     status         TEXT NOT NULL CHECK (status IN ('AUTHORIZED','DECLINED','REFUNDED')),
     decline_reason TEXT NOT NULL DEFAULT '',
     card_last4     TEXT NOT NULL,
     refund_reason  TEXT,
     create_time    TEXT NOT NULL,
     update_time    TEXT NOT NULL
   )`,
];

interface PaymentRow {
  seq: bigint;
  payment_id: string;
  order_id: string;
  currency_code: string;
  amount_minor: bigint;
  status: PaymentStatus;
  decline_reason: string;
  card_last4: string;
  create_time: string;
  update_time: string;
}

/** PaymentPage is one page of payments, newest first, and the cursor of its last row. */
export interface PaymentPage {
  readonly payments: Payment[];
  /** lastSeq is the sort key of the last payment returned; undefined when the page is empty. */
  readonly lastSeq: string | undefined;
  /** more is true when older payments exist beyond this page. */
  readonly more: boolean;
}

const COLUMNS = `seq, payment_id, order_id, currency_code, amount_minor, status, decline_reason, card_last4,
                 create_time, update_time`;

/**
 * PaymentStore is the SQLite access for payments. It does not open transactions: callers wrap writes in one
 * `db.transaction` together with the inbox and outbox rows of the same change.
 */
export class PaymentStore {
  private readonly insertStmt;
  private readonly byId;
  private readonly byOrder;
  private readonly refundStmt;
  private readonly listAll;
  private readonly listByOrder;

  constructor(db: SqliteDatabase) {
    this.insertStmt = db.prepare(
      `INSERT INTO payments (payment_id, order_id, currency_code, amount_minor, status, decline_reason, card_last4,
                             create_time, update_time)
       VALUES (@paymentId, @orderId, @currencyCode, @amountMinor, @status, @declineReason, @cardLast4,
               @createTime, @updateTime)`,
    );
    // safeIntegers: amounts are int64 on the wire (bigint in protobuf-es); never round them through a double.
    this.byId = db.prepare<[string], PaymentRow>(`SELECT ${COLUMNS} FROM payments WHERE payment_id = ?`).safeIntegers();
    this.byOrder = db.prepare<[string], PaymentRow>(`SELECT ${COLUMNS} FROM payments WHERE order_id = ?`).safeIntegers();
    this.refundStmt = db.prepare(
      `UPDATE payments SET status = 'REFUNDED', refund_reason = ?, update_time = ?
        WHERE payment_id = ? AND status = 'AUTHORIZED'`,
    );
    this.listAll = db
      .prepare<[bigint, number], PaymentRow>(`SELECT ${COLUMNS} FROM payments WHERE seq < ? ORDER BY seq DESC LIMIT ?`)
      .safeIntegers();
    this.listByOrder = db
      .prepare<[string, bigint, number], PaymentRow>(
        `SELECT ${COLUMNS} FROM payments WHERE order_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
      )
      .safeIntegers();
  }

  insert(payment: Payment): void {
    this.insertStmt.run({
      paymentId: payment.paymentId,
      orderId: payment.orderId,
      currencyCode: payment.amount.currencyCode,
      amountMinor: payment.amount.amountMinor,
      status: payment.status,
      declineReason: payment.declineReason,
      cardLast4: payment.cardLast4,
      createTime: payment.createTime.toISOString(),
      updateTime: payment.updateTime.toISOString(),
    });
  }

  get(paymentId: string): Payment | undefined {
    const row = this.byId.get(paymentId);
    return row && toPayment(row);
  }

  getByOrder(orderId: string): Payment | undefined {
    const row = this.byOrder.get(orderId);
    return row && toPayment(row);
  }

  /** markRefunded moves an AUTHORIZED payment to REFUNDED; false when it was not AUTHORIZED (nothing changed). */
  markRefunded(paymentId: string, reason: string, at: Date): boolean {
    return this.refundStmt.run(reason, at.toISOString(), paymentId).changes === 1;
  }

  /** list returns up to `limit` payments older than the cursor `afterSeq` (all when undefined), newest first. */
  list(options: { orderId?: string | undefined; afterSeq?: string | undefined; limit: number }): PaymentPage {
    const before = options.afterSeq === undefined ? BigInt(Number.MAX_SAFE_INTEGER) : BigInt(options.afterSeq);
    // One extra row tells whether another page exists, so the last page has no next_page_token.
    const rows = options.orderId
      ? this.listByOrder.all(options.orderId, before, options.limit + 1)
      : this.listAll.all(before, options.limit + 1);
    const page = rows.slice(0, options.limit);
    const last = page[page.length - 1];
    return { payments: page.map(toPayment), lastSeq: last && String(last.seq), more: rows.length > options.limit };
  }
}

function toPayment(row: PaymentRow): Payment {
  return {
    paymentId: row.payment_id,
    orderId: row.order_id,
    amount: { currencyCode: row.currency_code, amountMinor: BigInt(row.amount_minor) },
    status: row.status,
    declineReason: row.decline_reason,
    cardLast4: row.card_last4,
    createTime: new Date(row.create_time),
    updateTime: new Date(row.update_time),
  };
}
