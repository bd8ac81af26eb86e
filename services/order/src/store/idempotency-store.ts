import type { SqliteDatabase } from "#shared/store/database.js";

/** idempotencySchema maps a client's idempotency key to the request it was first used with and the order it made. */
export const idempotencySchema = [
  `CREATE TABLE IF NOT EXISTS idempotency_keys (
     key         TEXT PRIMARY KEY,
     fingerprint TEXT NOT NULL,
     order_id    TEXT NOT NULL,
     created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
   )`,
];

/** IdempotencyRecord is what a key was first used for. */
export interface IdempotencyRecord {
  readonly fingerprint: string;
  readonly orderId: string;
}

/** IdempotencyStore remembers idempotency keys; `put` belongs in the transaction that stores the order. */
export class IdempotencyStore {
  private readonly insert;
  private readonly select;

  constructor(db: SqliteDatabase) {
    this.insert = db.prepare(`INSERT INTO idempotency_keys (key, fingerprint, order_id) VALUES (?, ?, ?)`);
    this.select = db.prepare<[string], { fingerprint: string; order_id: string }>(
      `SELECT fingerprint, order_id FROM idempotency_keys WHERE key = ?`,
    );
  }

  get(key: string): IdempotencyRecord | undefined {
    const row = this.select.get(key);
    return row === undefined ? undefined : { fingerprint: row.fingerprint, orderId: row.order_id };
  }

  put(key: string, record: IdempotencyRecord): void {
    this.insert.run(key, record.fingerprint, record.orderId);
  }
}
