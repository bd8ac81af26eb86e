/**
 * inventorySchema is the inventory database: products with their stock and reservations with their lines (the
 * service kit adds the shared outbox and inbox tables). The CHECKs are the last line of defence for the stock
 * rules: a bug that would drive stock negative fails its transaction instead of corrupting the numbers.
 */
export const inventorySchema: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS products (
     product_id    TEXT PRIMARY KEY,
     name          TEXT NOT NULL,
     description   TEXT NOT NULL DEFAULT '',
     currency_code TEXT NOT NULL,
     amount_minor  INTEGER NOT NULL CHECK (amount_minor >= 0),
     available     INTEGER NOT NULL CHECK (available >= 0),
     reserved      INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
     updated_ms    INTEGER NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS reservations (
     reservation_id TEXT PRIMARY KEY,
     order_id       TEXT NOT NULL,
     status         TEXT NOT NULL CHECK (status IN ('HELD','COMMITTED','RELEASED')),
     reason         TEXT NOT NULL DEFAULT '',
     created_ms     INTEGER NOT NULL,
     updated_ms     INTEGER NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS reservations_by_order ON reservations (order_id, created_ms)`,
  `CREATE INDEX IF NOT EXISTS reservations_held ON reservations (created_ms) WHERE status = 'HELD'`,
  // closed_orders remembers orders that are over for inventory (cancelled, declined, or their stock commit failed),
  // so a late PaymentAuthorized never reserves stock again for them. A table of its own, not a column, because the
  // schema is applied with CREATE ... IF NOT EXISTS on databases that already exist.
  `CREATE TABLE IF NOT EXISTS closed_orders (
     order_id  TEXT PRIMARY KEY,
     reason    TEXT NOT NULL,
     closed_ms INTEGER NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS reservation_lines (
     reservation_id TEXT NOT NULL REFERENCES reservations (reservation_id),
     line_no        INTEGER NOT NULL,
     product_id     TEXT NOT NULL REFERENCES products (product_id),
     quantity       INTEGER NOT NULL CHECK (quantity > 0),
     currency_code  TEXT NOT NULL,
     amount_minor   INTEGER NOT NULL,
     PRIMARY KEY (reservation_id, line_no)
   )`,
];
