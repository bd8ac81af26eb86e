import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type SqliteDatabase = Database.Database;

/**
 * openDatabase opens a service's own SQLite file (database per service, never
 * shared) and applies its schema statements, which must be idempotent
 * (`CREATE TABLE IF NOT EXISTS`).
 *
 * WAL lets readers (GetOrder, WatchOrder, the outbox relay's poll) run beside the
 * one writer. synchronous=FULL, not the WAL-usual NORMAL: NORMAL can lose the
 * last commits on power loss, and a lost commit here is a lost order together
 * with its outbox row, which the customer was already told about. We pay an fsync
 * per commit for that.
 */
export function openDatabase(path: string, schema: readonly string[]): SqliteDatabase {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  // A second connection (a test, the dlq tool) may hold the write lock briefly.
  db.pragma("busy_timeout = 5000");
  for (const statement of schema) db.exec(statement);
  return db;
}
