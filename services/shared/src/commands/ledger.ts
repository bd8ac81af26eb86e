/**
 * Where a command consumer remembers the commands it has handled. The service's own inbox table (events/inbox.ts,
 * which every kit database has) holds them beside the events it handled: one row per (consumer, command id).
 */
import type { SqliteDatabase } from "../store/database.js";
import type { CommandLedger } from "./command-bus.js";

/**
 * sqliteCommandLedger keeps the ledger in the inbox table. A command's handler may do remote work (an SMTP send) that
 * no SQLite transaction can cover, so the row is written after the handler succeeded, not with its effect: a crash
 * between the two delivers the command again and repeats the effect (at least once). A handler whose effect is a
 * write to this same database should use Inbox.once itself and have it exactly once.
 */
export function sqliteCommandLedger(db: SqliteDatabase): CommandLedger {
  const select = db.prepare(`SELECT 1 FROM inbox WHERE consumer = ? AND event_id = ?`);
  const insert = db.prepare(`INSERT INTO inbox (consumer, event_id, event_type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`);
  return {
    handled: (consumer, commandId) => select.get(consumer, commandId) !== undefined,
    record: (consumer, command) => void insert.run(consumer, command.id, command.type),
  };
}

/** memoryCommandLedger forgets everything at exit: for tests and tools, not for services. */
export function memoryCommandLedger(): CommandLedger {
  const seen = new Set<string>();
  return {
    handled: (consumer, commandId) => seen.has(`${consumer}\u0000${commandId}`),
    record: (consumer, command) => void seen.add(`${consumer}\u0000${command.id}`),
  };
}
