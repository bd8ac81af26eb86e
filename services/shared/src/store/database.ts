import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type SqliteDatabase = Database.Database;

/**
 * SqliteSynchronous is the business connection's durability level (SQLITE_SYNCHRONOUS). FULL is the default and
 * the recommendation; NORMAL exists to measure what that choice costs (bench P3) and for deployments whose storage
 * makes the trade-off differently (battery-backed caches): it may lose the last commits on power loss, never on a
 * process crash.
 */
export type SqliteSynchronous = "FULL" | "NORMAL";

/**
 * SchemaStep is one step of a schema: an idempotent statement (`CREATE TABLE IF NOT EXISTS`), or a migration that
 * looks at what exists and changes only what is missing (a column added to a table that older files already have,
 * which no `IF NOT EXISTS` can say in SQLite).
 */
export type SchemaStep = string | ((db: SqliteDatabase) => void);

/**
 * openDatabase opens a service's own SQLite file (database per service, never
 * shared) and applies its schema steps, which must be idempotent
 * (`CREATE TABLE IF NOT EXISTS`, or a {@link SchemaStep} migration).
 *
 * WAL lets readers (GetOrder, WatchOrder, the outbox relay's poll) run beside the
 * one writer. synchronous=FULL, not the WAL-usual NORMAL: NORMAL can lose the
 * last commits on power loss, and a lost commit here is a lost order together
 * with its outbox row, which the customer was already told about. We pay an fsync
 * per commit for that (SQLITE_SYNCHRONOUS=NORMAL opts out, see SqliteSynchronous). `synchronous` is a per-connection setting, so writes that
 * may be lost harmlessly (the outbox relay's bookkeeping) use a second connection
 * from {@link openBookkeepingConnection} instead of weakening this one.
 */
export function openDatabase(
  path: string,
  schema: readonly SchemaStep[],
  options: { synchronous?: SqliteSynchronous } = {},
): SqliteDatabase {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
  db.pragma("foreign_keys = ON");
  // A second connection (the relay's, a test, the dlq tool) may hold the write lock briefly.
  db.pragma("busy_timeout = 5000");
  for (const step of schema) {
    if (typeof step === "string") db.exec(step);
    else db.transaction(() => step(db))();
  }
  return db;
}

/**
 * addMissingColumns is the schema step that adds columns to an existing table: `CREATE TABLE IF NOT EXISTS` leaves a
 * table from an older version as it was, and SQLite has no `ADD COLUMN IF NOT EXISTS`, so it asks
 * `pragma table_info` which are there. Columns added this way must be nullable or have a default (SQLite's rule).
 */
export function addMissingColumns(table: string, columns: Readonly<Record<string, string>>): SchemaStep {
  return (db) => {
    const present = columnsOf(db, table);
    for (const [name, definition] of Object.entries(columns)) {
      if (!present.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${definition}`);
    }
  };
}

/**
 * openBookkeepingConnection opens a second connection to `db`'s file with synchronous=NORMAL, for writes whose loss
 * on power failure costs nothing but a retry (the outbox relay's IN_PROGRESS/PUBLISHED/FAILED marks: a lost mark
 * only resends an event, which at-least-once consumers absorb through their inbox). In WAL mode NORMAL commits
 * without an fsync; the WAL is still synced before every checkpoint and by the next FULL commit on `db`, which
 * syncs everything appended before it, so this connection never weakens the durability of `db`'s commits.
 *
 * Returns undefined when a second connection cannot see the same data or would not help: an in-memory or
 * temporary database, or one not in WAL mode (where a second writer would only block readers). The caller then
 * uses `db` itself.
 */
export function openBookkeepingConnection(db: SqliteDatabase): SqliteDatabase | undefined {
  if (db.memory || db.readonly || db.pragma("journal_mode", { simple: true }) !== "wal") return undefined;
  const side = new Database(db.name, { fileMustExist: true });
  side.pragma("synchronous = NORMAL");
  side.pragma("busy_timeout = 5000");
  return side;
}

/** columnsOf lists a table's column names (none when the table does not exist), for migrations. */
export function columnsOf(db: SqliteDatabase, table: string): Set<string> {
  return new Set(
    db
      .prepare<[string], { name: string }>(`SELECT name FROM pragma_table_info(?)`)
      .all(table)
      .map((c) => c.name),
  );
}
