import type { SqliteDatabase } from "../store/database.js";

/** inboxSchema is the idempotent-consumer table; services add it to their database's schema. */
export const inboxSchema = [
  `CREATE TABLE IF NOT EXISTS inbox (
     consumer     TEXT NOT NULL,
     event_id     TEXT NOT NULL,
     event_type   TEXT NOT NULL,
     processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
     PRIMARY KEY (consumer, event_id)
   )`,
];

/**
 * Inbox makes a consumer idempotent: the event id is recorded in the same SQLite
 * transaction as the handler's effect, so an event delivered twice (Kafka is
 * at-least-once, and the outbox may resend) has its effect once.
 */
export class Inbox {
  private readonly insert;

  /** onDuplicate hears of each event skipped as already handled, by consumer (the kit counts them in its metrics). */
  constructor(
    private readonly db: SqliteDatabase,
    private readonly onDuplicate?: (consumer: string) => void,
  ) {
    this.insert = db.prepare(`INSERT INTO inbox (consumer, event_id, event_type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`);
  }

  /**
   * once runs `effect` inside a transaction unless this consumer already handled
   * the event; returns whether it ran. `effect` must be synchronous (SQLite
   * transactions are): do remote calls before, and write outbox rows inside.
   */
  once<T>(consumer: string, event: { id: string; type: string }, effect: () => T): { ran: boolean; result?: T } {
    const outcome = this.db.transaction(() => {
      const fresh = this.insert.run(consumer, event.id, event.type).changes === 1;
      return fresh ? { ran: true, result: effect() } : { ran: false };
    })();
    // Counted after the transaction: a rolled-back attempt is not a duplicate, whatever it found.
    if (!outcome.ran) this.onDuplicate?.(consumer);
    return outcome;
  }
}
