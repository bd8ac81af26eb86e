import { openBookkeepingConnection, type SqliteDatabase } from "#shared/store/database.js";

/**
 * stockHoldSchema records every reservation the order service may have left held at inventory without an order to
 * own it. A row is written before the reservation is sent and deleted in the transaction that stores its order; a
 * row still there once `release_after` passed is a hold to give back (times are ms since the epoch).
 */
export const stockHoldSchema = [
  `CREATE TABLE IF NOT EXISTS stock_holds (
     order_id      TEXT PRIMARY KEY,
     reserved_at   INTEGER NOT NULL,
     release_after INTEGER NOT NULL,
     reason        TEXT NOT NULL DEFAULT '',
     attempts      INTEGER NOT NULL DEFAULT 0,
     last_error    TEXT NOT NULL DEFAULT ''
   )`,
  `CREATE INDEX IF NOT EXISTS stock_holds_due ON stock_holds (release_after)`,
];

/** StockHold is one reservation that may be held with no order: when it was sent, and its release so far. */
export interface StockHold {
  readonly orderId: string;
  readonly reservedAt: number;
  readonly releaseAfter: number;
  readonly reason: string;
  readonly attempts: number;
}

interface HoldRow {
  order_id: string;
  reserved_at: number;
  release_after: number;
  reason: string;
  attempts: number;
}

/**
 * StockHoldStore keeps the stock_holds table. `stored` belongs in the transaction that stores the order, on the
 * business connection. Everything else is bookkeeping on a second connection with synchronous=NORMAL
 * (`openBookkeepingConnection`): a row is there to survive the order process dying, which NORMAL survives in WAL mode;
 * a row lost to a power failure costs only stock held until inventory's reservation TTL. Writing it with FULL
 * would add an fsync, milliseconds, to every CreateOrder.
 */
export class StockHoldStore {
  private readonly side: SqliteDatabase;
  private readonly insert;
  private readonly remove;
  private readonly removeInTransaction;
  private readonly markDue;
  private readonly reschedule;
  private readonly selectDue;
  private readonly countAll;

  constructor(private readonly db: SqliteDatabase) {
    const side = openBookkeepingConnection(db) ?? db;
    this.side = side;
    this.insert = side.prepare(`INSERT INTO stock_holds (order_id, reserved_at, release_after) VALUES (?, ?, ?)`);
    this.remove = side.prepare(`DELETE FROM stock_holds WHERE order_id = ?`);
    this.removeInTransaction = db.prepare(`DELETE FROM stock_holds WHERE order_id = ?`);
    // An upsert: a hold whose row could not be written before the reservation still gets recorded for release.
    this.markDue = side.prepare(
      `INSERT INTO stock_holds (order_id, reserved_at, release_after, reason) VALUES (?, ?, ?, ?)
       ON CONFLICT (order_id) DO UPDATE SET release_after = excluded.release_after, reason = excluded.reason`,
    );
    this.reschedule = side.prepare(`UPDATE stock_holds SET release_after = ?, attempts = ?, last_error = ? WHERE order_id = ?`);
    this.selectDue = db.prepare<[number, number], HoldRow>(
      `SELECT order_id, reserved_at, release_after, reason, attempts FROM stock_holds
       WHERE release_after <= ? ORDER BY release_after LIMIT ?`,
    );
    this.countAll = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM stock_holds`);
  }

  /** open records a reservation about to be sent; it becomes due for release at `releaseAfter` unless forgotten. */
  open(orderId: string, reservedAt: number, releaseAfter: number): void {
    this.insert.run(orderId, reservedAt, releaseAfter);
  }

  /** stored drops a hold inside the transaction that stores its order (the business connection's). */
  stored(orderId: string): void {
    this.removeInTransaction.run(orderId);
  }

  /** forget drops a hold that holds nothing: refused, never sent, or released as inventory confirmed. */
  forget(orderId: string): void {
    this.remove.run(orderId);
  }

  /** releaseAt makes a hold due for release at `at` with `reason`, recording it if it was not. */
  releaseAt(orderId: string, reason: string, at: number): void {
    this.markDue.run(orderId, at, at, reason);
  }

  /** retryAt puts a failed release off until `at`, counting the attempt and keeping its error for whoever looks. */
  retryAt(orderId: string, at: number, attempts: number, error: string): void {
    this.reschedule.run(at, attempts, error, orderId);
  }

  /** due lists up to `limit` holds whose release time has come, oldest first. */
  due(now: number, limit: number): StockHold[] {
    return this.selectDue.all(now, limit).map((row) => ({
      orderId: row.order_id,
      reservedAt: row.reserved_at,
      releaseAfter: row.release_after,
      reason: row.reason,
      attempts: row.attempts,
    }));
  }

  /** count is how many holds are recorded. */
  count(): number {
    return this.countAll.get()?.n ?? 0;
  }

  /** close releases the bookkeeping connection (not the business one, which its owner closes). */
  close(): void {
    if (this.side !== this.db && this.side.open) this.side.close();
  }
}
