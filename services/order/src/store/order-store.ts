import type { SqliteDatabase } from "../../../shared/src/store/database.js";
import type { Order, OrderLine, OrderStatus, StatusChange } from "../domain/order.js";

/** orderSchema holds orders, their lines and their status history. */
export const orderSchema = [
  `CREATE TABLE IF NOT EXISTS orders (
     seq           INTEGER PRIMARY KEY AUTOINCREMENT,
     order_id      TEXT NOT NULL UNIQUE,
     customer_id   TEXT NOT NULL,
     status        TEXT NOT NULL CHECK (status IN ('AWAITING_PAYMENT','CONFIRMED','CANCELLED')),
     currency_code TEXT NOT NULL,
     total_minor   INTEGER NOT NULL,
     payment_id    TEXT NOT NULL DEFAULT '',
     cancel_reason TEXT NOT NULL DEFAULT '',
     create_time   TEXT NOT NULL,
     update_time   TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id, seq)`,
  `CREATE TABLE IF NOT EXISTS order_lines (
     order_id         TEXT NOT NULL REFERENCES orders (order_id),
     line_no          INTEGER NOT NULL,
     product_id       TEXT NOT NULL,
     quantity         INTEGER NOT NULL,
     currency_code    TEXT NOT NULL,
     unit_price_minor INTEGER NOT NULL,
     PRIMARY KEY (order_id, line_no)
   )`,
  `CREATE TABLE IF NOT EXISTS order_history (
     order_id    TEXT NOT NULL REFERENCES orders (order_id),
     seq         INTEGER NOT NULL,
     status      TEXT NOT NULL,
     change_time TEXT NOT NULL,
     reason      TEXT NOT NULL,
     PRIMARY KEY (order_id, seq)
   )`,
];

interface OrderRow {
  seq: number;
  order_id: string;
  customer_id: string;
  status: OrderStatus;
  currency_code: string;
  total_minor: number | bigint;
  payment_id: string;
  cancel_reason: string;
  create_time: string;
  update_time: string;
}

interface LineRow {
  product_id: string;
  quantity: number;
  currency_code: string;
  unit_price_minor: number | bigint;
}

interface HistoryRow {
  status: OrderStatus;
  change_time: string;
  reason: string;
}

/** OrderFilter narrows ListOrders. */
export interface OrderFilter {
  customerId?: string | undefined;
  status?: OrderStatus | undefined;
}

/**
 * OrderStore reads and writes orders. Writes must run inside the caller's `db.transaction`, together with the
 * outbox row they cause.
 */
export class OrderStore {
  private readonly insertOrder;
  private readonly insertLine;
  private readonly insertHistory;
  private readonly updateOrder;
  private readonly selectOrder;
  private readonly selectLines;
  private readonly selectHistory;

  constructor(private readonly db: SqliteDatabase) {
    this.insertOrder = db.prepare(
      `INSERT INTO orders (order_id, customer_id, status, currency_code, total_minor, payment_id, cancel_reason,
                           create_time, update_time)
       VALUES (@orderId, @customerId, @status, @currency, @total, @paymentId, @cancelReason, @createTime, @updateTime)`,
    );
    this.insertLine = db.prepare(
      `INSERT INTO order_lines (order_id, line_no, product_id, quantity, currency_code, unit_price_minor)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.insertHistory = db.prepare(
      `INSERT INTO order_history (order_id, seq, status, change_time, reason) VALUES (?, ?, ?, ?, ?)`,
    );
    this.updateOrder = db.prepare(
      `UPDATE orders SET status = @status, payment_id = @paymentId, cancel_reason = @cancelReason,
                         update_time = @updateTime WHERE order_id = @orderId`,
    );
    this.selectOrder = db.prepare<[string], OrderRow>(`SELECT * FROM orders WHERE order_id = ?`);
    this.selectLines = db.prepare<[string], LineRow>(
      `SELECT product_id, quantity, currency_code, unit_price_minor FROM order_lines WHERE order_id = ? ORDER BY line_no`,
    );
    this.selectHistory = db.prepare<[string], HistoryRow>(
      `SELECT status, change_time, reason FROM order_history WHERE order_id = ? ORDER BY seq`,
    );
  }

  /** insert stores a new order with its lines and history; call it inside a transaction. */
  insert(order: Order): void {
    this.insertOrder.run({
      orderId: order.orderId,
      customerId: order.customerId,
      status: order.status,
      currency: order.total.currencyCode,
      total: order.total.amountMinor,
      paymentId: order.paymentId,
      cancelReason: order.cancelReason,
      createTime: order.createTime.toISOString(),
      updateTime: order.updateTime.toISOString(),
    });
    order.lines.forEach((line, i) =>
      this.insertLine.run(order.orderId, i, line.productId, line.quantity, line.unitPrice.currencyCode, line.unitPrice.amountMinor),
    );
    order.history.forEach((change, i) => this.writeHistory(order.orderId, i, change));
  }

  /**
   * update stores an order's new status fields and appends the history entries it has beyond the stored ones; call
   * it inside a transaction.
   */
  update(order: Order): void {
    this.updateOrder.run({
      orderId: order.orderId,
      status: order.status,
      paymentId: order.paymentId,
      cancelReason: order.cancelReason,
      updateTime: order.updateTime.toISOString(),
    });
    const stored = this.selectHistory.all(order.orderId).length;
    order.history.slice(stored).forEach((change, i) => this.writeHistory(order.orderId, stored + i, change));
  }

  /** get returns an order, or undefined. */
  get(orderId: string): Order | undefined {
    const row = this.selectOrder.get(orderId);
    return row === undefined ? undefined : this.toOrder(row);
  }

  /**
   * list returns up to `limit` orders, newest first, older than the row `afterSeq` (a page cursor), plus the seq of
   * the last one returned.
   */
  list(filter: OrderFilter, limit: number, afterSeq: number | undefined): { orders: Order[]; lastSeq: number | undefined; more: boolean } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.customerId) {
      where.push("customer_id = ?");
      params.push(filter.customerId);
    }
    if (filter.status) {
      where.push("status = ?");
      params.push(filter.status);
    }
    if (afterSeq !== undefined) {
      where.push("seq < ?");
      params.push(afterSeq);
    }
    const sql = `SELECT * FROM orders ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    // One row beyond the page says whether a next page exists, without a second query.
    const rows = this.db.prepare<(string | number)[], OrderRow>(sql).all(...params, limit + 1);
    const page = rows.slice(0, limit);
    return { orders: page.map((row) => this.toOrder(row)), lastSeq: page.at(-1)?.seq, more: rows.length > limit };
  }

  private writeHistory(orderId: string, seq: number, change: StatusChange): void {
    this.insertHistory.run(orderId, seq, change.status, change.at.toISOString(), change.reason);
  }

  private toOrder(row: OrderRow): Order {
    const lines: OrderLine[] = this.selectLines.all(row.order_id).map((line) => {
      const unit = BigInt(line.unit_price_minor);
      return {
        productId: line.product_id,
        quantity: line.quantity,
        unitPrice: { currencyCode: line.currency_code, amountMinor: unit },
        lineTotal: { currencyCode: line.currency_code, amountMinor: unit * BigInt(line.quantity) },
      };
    });
    return {
      orderId: row.order_id,
      customerId: row.customer_id,
      lines,
      total: { currencyCode: row.currency_code, amountMinor: BigInt(row.total_minor) },
      status: row.status,
      createTime: new Date(row.create_time),
      updateTime: new Date(row.update_time),
      paymentId: row.payment_id,
      cancelReason: row.cancel_reason,
      history: this.selectHistory.all(row.order_id).map((h) => ({ status: h.status, at: new Date(h.change_time), reason: h.reason })),
    };
  }
}
