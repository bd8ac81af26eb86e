import type { SqliteDatabase } from "#shared/store/database.js";
import type { Reservation, ReservationLine, ReservationStatus } from "../domain/reservation.js";

interface ReservationRow {
  reservation_id: string;
  order_id: string;
  status: ReservationStatus;
  reason: string;
  created_ms: number;
  updated_ms: number;
}

interface LineRow {
  product_id: string;
  quantity: number;
  currency_code: string;
  amount_minor: number;
}

/** ReservationStore persists HELD, COMMITTED and RELEASED reservations; callers own the transactions. */
/** RESERVATION_STATUSES are the statuses the schema's CHECK allows. */
const RESERVATION_STATUSES = ["HELD", "COMMITTED", "RELEASED"] as const;

export class ReservationStore {
  private readonly selectOne;
  private readonly selectByOrder;
  private readonly selectLines;
  private readonly selectExpired;
  private readonly insertOne;
  private readonly insertLine;
  private readonly updateStatus;
  private readonly insertClosed;
  private readonly selectClosed;
  private readonly selectCounts;

  constructor(db: SqliteDatabase) {
    const columns = `reservation_id, order_id, status, reason, created_ms, updated_ms`;
    this.selectOne = db.prepare<[string], ReservationRow>(`SELECT ${columns} FROM reservations WHERE reservation_id = ?`);
    // Normally one reservation per order (its id is the order id); the newest wins if a client used others.
    this.selectByOrder = db.prepare<[string], ReservationRow>(
      `SELECT ${columns} FROM reservations WHERE order_id = ? ORDER BY created_ms DESC LIMIT 1`,
    );
    this.selectLines = db.prepare<[string], LineRow>(
      `SELECT product_id, quantity, currency_code, amount_minor FROM reservation_lines
        WHERE reservation_id = ? ORDER BY line_no`,
    );
    this.selectExpired = db.prepare<[number, number], { reservation_id: string }>(
      `SELECT reservation_id FROM reservations WHERE status = 'HELD' AND created_ms <= ? ORDER BY created_ms LIMIT ?`,
    );
    this.insertOne = db.prepare(
      `INSERT INTO reservations (${columns}) VALUES (@reservationId, @orderId, @status, @reason, @createdMs, @updatedMs)`,
    );
    this.insertLine = db.prepare(
      `INSERT INTO reservation_lines (reservation_id, line_no, product_id, quantity, currency_code, amount_minor)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.updateStatus = db.prepare(
      `UPDATE reservations SET status = @status, reason = @reason, updated_ms = @updatedMs WHERE reservation_id = @reservationId`,
    );
    // The first reason an order was closed for is the one kept.
    this.insertClosed = db.prepare(`INSERT OR IGNORE INTO closed_orders (order_id, reason, closed_ms) VALUES (?, ?, ?)`);
    this.selectClosed = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM closed_orders WHERE order_id = ?`);
    this.selectCounts = db.prepare<[], { state: string; count: number }>(
      `SELECT status AS state, count(*) AS count FROM reservations GROUP BY status`,
    );
  }

  /**
   * countsByStatus counts reservations per status, every status included (0 when none), for the metrics scrape.
   * It scans the table: fine at a scrape every few seconds for this shop's volume; an index would cost every write.
   */
  countsByStatus(): { state: string; count: number }[] {
    const counts = new Map<string, number>(RESERVATION_STATUSES.map((status) => [status, 0]));
    for (const row of this.selectCounts.all()) counts.set(row.state, row.count);
    return [...counts].map(([state, count]) => ({ state, count }));
  }

  get(reservationId: string): Reservation | undefined {
    const row = this.selectOne.get(reservationId);
    return row && this.withLines(row);
  }

  /** forOrder returns the order's reservation (the newest, if there were several). */
  forOrder(orderId: string): Reservation | undefined {
    const row = this.selectByOrder.get(orderId);
    return row && this.withLines(row);
  }

  /** expiredIds lists HELD reservations created at or before `createdBefore`, oldest first. */
  expiredIds(createdBefore: Date, limit: number): string[] {
    return this.selectExpired.all(createdBefore.getTime(), limit).map((row) => row.reservation_id);
  }

  insert(reservation: Reservation): void {
    this.insertOne.run({
      reservationId: reservation.reservationId,
      orderId: reservation.orderId,
      status: reservation.status,
      reason: reservation.reason,
      createdMs: reservation.createdAt.getTime(),
      updatedMs: reservation.updatedAt.getTime(),
    });
    reservation.lines.forEach((line, i) => {
      this.insertLine.run(
        reservation.reservationId,
        i,
        line.productId,
        line.quantity,
        line.unitPrice.currencyCode,
        Number(line.unitPrice.amountMinor),
      );
    });
  }

  setStatus(reservationId: string, status: ReservationStatus, reason: string, now: Date): void {
    this.updateStatus.run({ reservationId, status, reason, updatedMs: now.getTime() });
  }

  /** closeOrder records that the order is over for inventory: no later payment reserves stock for it again. */
  closeOrder(orderId: string, reason: string, now: Date): void {
    this.insertClosed.run(orderId, reason, now.getTime());
  }

  /** isClosed tells whether {@link closeOrder} recorded the order. */
  isClosed(orderId: string): boolean {
    return (this.selectClosed.get(orderId)?.n ?? 0) > 0;
  }

  private withLines(row: ReservationRow): Reservation {
    const lines: ReservationLine[] = this.selectLines.all(row.reservation_id).map((line) => ({
      productId: line.product_id,
      quantity: line.quantity,
      unitPrice: { currencyCode: line.currency_code, amountMinor: BigInt(line.amount_minor) },
    }));
    return {
      reservationId: row.reservation_id,
      orderId: row.order_id,
      lines,
      status: row.status,
      reason: row.reason,
      createdAt: new Date(row.created_ms),
      updatedAt: new Date(row.updated_ms),
    };
  }
}
