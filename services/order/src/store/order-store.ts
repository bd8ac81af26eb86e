import { money, times } from "#shared/money.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import { isTerminal, type Order, type OrderLine, type OrderStatus, type StatusChange } from "../domain/order.js";

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
  total_minor: string;
  payment_id: string;
  cancel_reason: string;
  create_time: string;
  update_time: string;
}

/** FullOrderRow is an order row with its lines and history as JSON arrays (see ORDER_COLUMNS). */
interface FullOrderRow extends OrderRow {
  lines_json: string;
  history_json: string;
}

/** LineTuple is one line as [product_id, quantity, currency_code, unit_price_minor as text]. */
type LineTuple = [string, number, string, string];
/** HistoryTuple is one history entry as [status, change_time, reason]. */
type HistoryTuple = [OrderStatus, string, string];

/**
 * ORDER_COLUMNS selects an order with its lines and history in one statement (correlated json_group_array
 * subqueries), instead of one query for the order and one each for lines and history. Amounts travel as text so
 * neither JSON.parse nor a JS number rounds one beyond 2^53.
 */
const ORDER_COLUMNS = `o.seq, o.order_id, o.customer_id, o.status, o.currency_code, CAST(o.total_minor AS TEXT) AS total_minor,
  o.payment_id, o.cancel_reason, o.create_time, o.update_time,
  (SELECT json_group_array(json_array(l.product_id, l.quantity, l.currency_code, CAST(l.unit_price_minor AS TEXT))
                           ORDER BY l.line_no)
     FROM order_lines l WHERE l.order_id = o.order_id) AS lines_json,
  (SELECT json_group_array(json_array(h.status, h.change_time, h.reason) ORDER BY h.seq)
     FROM order_history h WHERE h.order_id = o.order_id) AS history_json`;

/**
 * TERMINAL_CACHE_SIZE bounds the cache of built terminal orders: a few hundred bytes to a few KiB each, so at most
 * a few MiB.
 */
const TERMINAL_CACHE_SIZE = 1024;

/** OrderFilter narrows ListOrders. */
export interface OrderFilter {
  customerId?: string | undefined;
  status?: OrderStatus | undefined;
}

/**
 * OrderStore reads and writes orders. Writes must run inside the caller's `db.transaction`, together with the
 * outbox row they cause.
 *
 * Reads of terminal orders (CONFIRMED, CANCELLED) come from a small LRU of built orders: they change at most once
 * more (CONFIRMED → CANCELLED), always through `update`, which drops the entry. Orders are immutable values, so
 * callers may share them. Only reads outside a transaction fill the cache, so it never holds an uncommitted state.
 */
export class OrderStore {
  private readonly insertOrder;
  private readonly insertLine;
  private readonly insertHistory;
  private readonly updateOrder;
  private readonly selectOrder;
  private readonly countHistory;
  private readonly terminal = new Map<string, Order>();

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
    this.insertHistory = db.prepare(`INSERT INTO order_history (order_id, seq, status, change_time, reason) VALUES (?, ?, ?, ?, ?)`);
    this.updateOrder = db.prepare(
      `UPDATE orders SET status = @status, payment_id = @paymentId, cancel_reason = @cancelReason,
                         update_time = @updateTime WHERE order_id = @orderId`,
    );
    this.selectOrder = db.prepare<[string], FullOrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders o WHERE o.order_id = ?`);
    this.countHistory = db.prepare<[string], number>(`SELECT count(*) FROM order_history WHERE order_id = ?`).pluck();
  }

  /** insert stores a new order with its lines and history; call it inside a transaction. */
  insert(order: Order): void {
    this.terminal.delete(order.orderId);
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
    for (const [i, line] of order.lines.entries()) {
      this.insertLine.run(order.orderId, i, line.productId, line.quantity, line.unitPrice.currencyCode, line.unitPrice.amountMinor);
    }
    for (const [i, change] of order.history.entries()) this.writeHistory(order.orderId, i, change);
  }

  /**
   * update stores an order's new status fields and appends the history entries it has beyond the stored ones; call
   * it inside a transaction.
   */
  update(order: Order): void {
    this.terminal.delete(order.orderId);
    this.updateOrder.run({
      orderId: order.orderId,
      status: order.status,
      paymentId: order.paymentId,
      cancelReason: order.cancelReason,
      updateTime: order.updateTime.toISOString(),
    });
    const stored = this.countHistory.get(order.orderId) ?? 0;
    for (const [i, change] of order.history.slice(stored).entries()) this.writeHistory(order.orderId, stored + i, change);
  }

  /** get returns an order, or undefined. */
  get(orderId: string): Order | undefined {
    const cached = this.terminal.get(orderId);
    if (cached !== undefined) {
      // Re-insert to mark it most recently used (a Map iterates in insertion order).
      this.terminal.delete(orderId);
      this.terminal.set(orderId, cached);
      return cached;
    }
    const row = this.selectOrder.get(orderId);
    if (row === undefined) return undefined;
    const order = toOrder(row);
    if (isTerminal(order.status) && !this.db.inTransaction) this.remember(order);
    return order;
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
    const sql = `SELECT ${ORDER_COLUMNS} FROM orders o ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    // One row beyond the page says whether a next page exists, without a second query.
    const rows = this.db.prepare<(string | number)[], FullOrderRow>(sql).all(...params, limit + 1);
    const page = rows.slice(0, limit);
    return { orders: page.map(toOrder), lastSeq: page.at(-1)?.seq, more: rows.length > limit };
  }

  private writeHistory(orderId: string, seq: number, change: StatusChange): void {
    this.insertHistory.run(orderId, seq, change.status, change.at.toISOString(), change.reason);
  }

  private remember(order: Order): void {
    this.terminal.set(order.orderId, order);
    if (this.terminal.size > TERMINAL_CACHE_SIZE) {
      const oldest = this.terminal.keys().next();
      if (!oldest.done) this.terminal.delete(oldest.value);
    }
  }
}

function toOrder(row: FullOrderRow): Order {
  const lines: OrderLine[] = (JSON.parse(row.lines_json) as LineTuple[]).map(([productId, quantity, currencyCode, unitMinor]) => {
    const unitPrice = money(currencyCode, BigInt(unitMinor));
    return { productId, quantity, unitPrice, lineTotal: times(unitPrice, quantity) };
  });
  const history: StatusChange[] = (JSON.parse(row.history_json) as HistoryTuple[]).map(([status, at, reason]) => ({
    status,
    at: new Date(at),
    reason,
  }));
  return {
    orderId: row.order_id,
    customerId: row.customer_id,
    lines,
    total: money(row.currency_code, BigInt(row.total_minor)),
    status: row.status,
    createTime: new Date(row.create_time),
    updateTime: new Date(row.update_time),
    paymentId: row.payment_id,
    cancelReason: row.cancel_reason,
    history,
  };
}
