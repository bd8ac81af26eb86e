import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OutgoingEvent } from "#shared/events/event-bus.js";
import type { Command } from "#shared/commands/index.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { commandPublisher, OutboxRelay, OutboxStore, outboxSchema, type OutboxEvent } from "#shared/events/outbox.js";
import { columnsOf, openBookkeepingConnection, openDatabase, type SqliteDatabase } from "#shared/store/database.js";

let dir: string;
let db: SqliteDatabase;
let outbox: OutboxStore;

function event(n: number): OutboxEvent {
  return {
    id: `evt-${n}-${crypto.randomUUID()}`,
    topic: n % 2 === 0 ? "shop.test.even" : "shop.test.odd",
    type: "shop.test.v1.Happened",
    source: "test",
    subject: `subject-${n}`,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
    data: new Uint8Array([n]),
    ...(n === 1 ? { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } : {}),
  };
}

function addAll(count: number): void {
  db.transaction(() => {
    for (let n = 1; n <= count; n++) outbox.add(event(n));
  })();
}

function rows(): { seq: number; state: string; times_sent: number; last_error: string | null; published_at: string | null }[] {
  return db.prepare(`SELECT seq, state, times_sent, last_error, published_at FROM outbox ORDER BY seq`).all() as never;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "outbox-test-"));
  db = openDatabase(join(dir, "outbox.db"), outboxSchema);
  outbox = new OutboxStore(db);
});

afterEach(() => {
  outbox.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("OutboxStore", () => {
  it("when rows are claimed, then the oldest come first, marked IN_PROGRESS with one send counted", () => {
    addAll(5);

    const claimed = outbox.claim(3);

    expect(claimed.map((row) => row.event.subject)).toEqual(["subject-1", "subject-2", "subject-3"]);
    expect(claimed[0]?.event).toMatchObject({
      topic: "shop.test.odd",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    expect(claimed[0]?.event.time.toISOString()).toBe("2026-01-01T00:00:01.000Z");
    expect([...(claimed[1]?.event.data ?? [])]).toEqual([2]);
    expect(rows().map((row) => [row.state, row.times_sent])).toEqual([
      ["IN_PROGRESS", 1],
      ["IN_PROGRESS", 1],
      ["IN_PROGRESS", 1],
      ["NOT_PUBLISHED", 0],
      ["NOT_PUBLISHED", 0],
    ]);
    // Claimed rows are not handed out twice.
    expect(outbox.claim(10).map((row) => row.event.subject)).toEqual(["subject-4", "subject-5"]);
  });

  it("when a batch fails and is claimed again, then it comes back oldest first with its sends counted", () => {
    addAll(3);
    const first = outbox.claim(2).map((row) => row.seq);

    outbox.failed(first, "broker down");
    expect(rows().map((row) => [row.state, row.last_error])).toEqual([
      ["FAILED", "broker down"],
      ["FAILED", "broker down"],
      ["NOT_PUBLISHED", null],
    ]);

    const again = outbox.claim(10);
    expect(again.map((row) => row.seq)).toEqual([...first, first[1]! + 1]);
    outbox.published(again.map((row) => row.seq));
    expect(rows().map((row) => [row.state, row.times_sent, row.last_error])).toEqual([
      ["PUBLISHED", 2, null],
      ["PUBLISHED", 2, null],
      ["PUBLISHED", 1, null],
    ]);
    expect(rows().every((row) => row.published_at !== null)).toBe(true);
    expect(outbox.backlog()).toBe(0);
  });

  it("when the store starts over rows left IN_PROGRESS, then they are claimable again", () => {
    addAll(2);
    outbox.claim(2);

    const restarted = new OutboxStore(db);

    expect(restarted.claim(10).map((row) => row.event.subject)).toEqual(["subject-1", "subject-2"]);
    restarted.close();
  });

  it("when the relay flushes many rows, then every event leaves once, in order per topic, and all are PUBLISHED", async () => {
    addAll(450);
    const sent = new Map<string, OutgoingEvent[]>();
    const relay = new OutboxRelay(outbox, {
      publish: async (topic, events) => void sent.set(topic, [...(sent.get(topic) ?? []), ...events]),
    });

    expect(await relay.flush()).toBe(450);

    const odd = sent.get("shop.test.odd")?.map((e) => e.subject) ?? [];
    expect(odd).toHaveLength(225);
    expect(odd.slice(0, 3)).toEqual(["subject-1", "subject-3", "subject-5"]);
    expect(rows().every((row) => row.state === "PUBLISHED" && row.times_sent === 1)).toBe(true);
    await relay.stop();
  });
});

describe("outbox positions", () => {
  it("when the bus reports where each event landed, then each row keeps its own partition and offset", async () => {
    addAll(4); // two topics, so the relay publishes twice and each answer must reach its own rows
    const positions = new Map<string, { partition: number; offset: string }>();
    let next = 100;
    await new OutboxRelay(outbox, {
      publish: async (_topic, events) =>
        events.map((sent) => {
          const position = { partition: sent.subject.length % 3, offset: String(next++) };
          positions.set(sent.id, position);
          return position;
        }),
    }).flush();

    const stored = db.prepare(`SELECT event_id, kafka_partition, kafka_offset FROM outbox`).all() as {
      event_id: string;
      kafka_partition: number;
      kafka_offset: number;
    }[];
    expect(stored).toHaveLength(4);
    for (const row of stored) {
      const position = positions.get(row.event_id);
      expect([row.kafka_partition, String(row.kafka_offset)]).toEqual([position?.partition, position?.offset]);
    }
  });

  it("when a bus reports nothing, then rows are PUBLISHED without a position", async () => {
    addAll(1);
    await new OutboxRelay(outbox, { publish: async () => undefined }).flush();

    expect(db.prepare(`SELECT state, kafka_partition, kafka_offset FROM outbox`).get()).toEqual({
      state: "PUBLISHED",
      kafka_partition: null,
      kafka_offset: null,
    });
  });

  it("when a database file has the outbox table from before the position columns, then opening it adds them and keeps the rows", () => {
    const oldPath = join(dir, "old.db");
    const old = openDatabase(oldPath, [
      `CREATE TABLE outbox (
         seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL,
         event_type TEXT NOT NULL, source TEXT NOT NULL, subject TEXT NOT NULL, event_time TEXT NOT NULL,
         traceparent TEXT, payload BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'NOT_PUBLISHED',
         times_sent INTEGER NOT NULL DEFAULT 0, last_error TEXT,
         created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), published_at TEXT)`,
    ]);
    old
      .prepare(
        `INSERT INTO outbox (event_id, topic, event_type, source, subject, event_time, payload) VALUES ('e1','t','y','s','o','2026-01-01',x'01')`,
      )
      .run();
    old.close();

    const reopened = openDatabase(oldPath, outboxSchema);
    try {
      const columns = (reopened.pragma("table_info(outbox)") as { name: string }[]).map((column) => column.name);
      expect(columns).toEqual(expect.arrayContaining(["kafka_partition", "kafka_offset"]));
      expect(reopened.prepare(`SELECT event_id, kafka_offset FROM outbox`).all()).toEqual([{ event_id: "e1", kafka_offset: null }]);
      // A second open finds the columns there and changes nothing.
      reopened.close();
      openDatabase(oldPath, outboxSchema).close();
    } finally {
      if (reopened.open) reopened.close();
    }
  });
});

describe("OutboxRelay.notify", () => {
  it("when a commit notifies while a pass is publishing, then its row goes out right after that pass, not a poll interval later", async () => {
    addAll(1);
    let releaseFirst: (() => void) | undefined;
    const publishedAt: number[] = [];
    const relay = new OutboxRelay(
      outbox,
      {
        publish: async () => {
          if (publishedAt.length === 0) await new Promise<void>((resolve) => (releaseFirst = resolve));
          publishedAt.push(performance.now());
        },
      },
      { pollIntervalMs: 60_000 },
    );
    relay.start();
    await until(() => releaseFirst !== undefined);
    // The first pass has claimed its row and is publishing: this commit's row is not in its batch.
    db.transaction(() => outbox.add(event(2)))();
    relay.notify();
    releaseFirst?.();

    await until(() => publishedAt.length === 2);

    expect(rows().map((row) => row.state)).toEqual(["PUBLISHED", "PUBLISHED"]);
    await relay.stop();
  });
});

/** until polls `condition` every few ms for up to 5 s (the relay's poll interval here is a minute). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("openBookkeepingConnection", () => {
  it("when opened beside a service database, then it commits with synchronous=NORMAL while the database keeps FULL", () => {
    const side = openBookkeepingConnection(db);
    try {
      expect(side).toBeDefined();
      expect(side?.pragma("synchronous", { simple: true })).toBe(1); // NORMAL
      expect(db.pragma("synchronous", { simple: true })).toBe(2); // FULL
      // Same file: a mark made on the side connection is visible to the service's connection.
      addAll(1);
      side?.prepare(`UPDATE outbox SET state = 'PUBLISHED'`).run();
      expect(rows()[0]?.state).toBe("PUBLISHED");
    } finally {
      side?.close();
    }
  });

  it("when the database is in memory, then there is no second connection and the relay uses the database itself", () => {
    const memory = openDatabase(":memory:", outboxSchema);
    try {
      expect(openBookkeepingConnection(memory)).toBeUndefined();
      const store = new OutboxStore(memory);
      memory.transaction(() => store.add(event(1)))();
      store.published(store.claim(1).map((row) => row.seq));
      expect(store.backlog()).toBe(0);
      store.close();
      expect(memory.open).toBe(true);
    } finally {
      memory.close();
    }
  });
});

describe("the outbox carries commands too (kind = command), through the same store and relay class", () => {
  function command(n: number): Command {
    return {
      id: `cmd-${n}-${crypto.randomUUID()}`,
      type: "shop.test.v1.DoIt",
      source: "test",
      subject: `subject-${n}`,
      time: new Date(Date.UTC(2026, 0, 1, 0, 1, n)),
      data: new Uint8Array([100 + n]),
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    };
  }

  it("when events and commands share the table, then each kind's store claims and counts only its own rows", () => {
    const commands = new OutboxStore(db, "command");
    db.transaction(() => {
      outbox.add(event(1));
      outbox.addCommand("test.queue", command(2));
      outbox.add(event(3));
    })();

    expect(outbox.backlog()).toBe(2);
    expect(commands.backlog()).toBe(1);
    expect(outbox.claim(10).map((row) => row.event.subject)).toEqual(["subject-1", "subject-3"]);
    expect(commands.claim(10).map((row) => [row.event.topic, row.event.subject, [...row.event.data]])).toEqual([
      ["test.queue", "subject-2", [102]],
    ]);
    commands.close();
  });

  it("when the command broker is down, then the events still leave; the commands wait, FAILED, and all leave once it is back", async () => {
    const commandStore = new OutboxStore(db, "command");
    const published: string[] = [];
    const sent: { queue: string; id: string; traceparent: string | undefined }[] = [];
    let brokerUp = false;
    const eventsRelay = new OutboxRelay(outbox, {
      publish: async (_topic, events) => void published.push(...events.map((e) => e.subject)),
    });
    const commandRelay = new OutboxRelay(
      commandStore,
      commandPublisher({
        send: async (queue, commands) => {
          if (!brokerUp) throw new Error("RabbitMQ down");
          sent.push(...commands.map((c) => ({ queue, id: c.id, traceparent: c.traceparent })));
        },
      }),
      { initialBackoffMs: 10, maxBackoffMs: 20 },
    );
    const written = [command(2), command(4)];
    db.transaction(() => {
      outbox.add(event(1));
      outbox.addCommand("test.queue", written[0]!);
      outbox.add(event(3));
      outbox.addCommand("test.queue", written[1]!);
    })();

    expect(await eventsRelay.flush()).toBe(2);
    expect(await commandRelay.flush()).toBe(0);
    expect(published).toEqual(["subject-1", "subject-3"]);
    expect(rows().map((row) => row.state)).toEqual(["PUBLISHED", "FAILED", "PUBLISHED", "FAILED"]);

    brokerUp = true;
    commandRelay.start();
    await waitUntil(() => commandStore.backlog() === 0, { message: "the commands sent" });
    await commandRelay.stop();
    expect(sent.map((s) => [s.queue, s.id])).toEqual(written.map((c) => ["test.queue", c.id]));
    // Each send is the writer's child: same trace, a span of its own.
    expect(
      sent.every((s) => s.traceparent?.startsWith("00-0af7651916cd43dd8448eb211c80319c-") && !s.traceparent.includes("b7ad6b7169203331")),
    ).toBe(true);
    await eventsRelay.stop();
  });

  it("when a database from before commands is opened, then the migration adds `kind`, its rows stay events, and opening again changes nothing", () => {
    const path = join(dir, "old.db");
    const old = openDatabase(path, [
      `CREATE TABLE outbox (
         seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL, event_type TEXT NOT NULL,
         source TEXT NOT NULL, subject TEXT NOT NULL, event_time TEXT NOT NULL, traceparent TEXT, payload BLOB NOT NULL,
         state TEXT NOT NULL DEFAULT 'NOT_PUBLISHED', times_sent INTEGER NOT NULL DEFAULT 0, last_error TEXT,
         created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), published_at TEXT)`,
    ]);
    old
      .prepare(
        `INSERT INTO outbox (event_id, topic, event_type, source, subject, event_time, payload) VALUES ('e1','t','x','s','old','2026-01-01T00:00:00Z', x'01')`,
      )
      .run();
    old.close();

    for (let open = 1; open <= 2; open++) {
      const migrated = openDatabase(path, outboxSchema);
      expect(columnsOf(migrated, "outbox").has("kind")).toBe(true);
      const events = new OutboxStore(migrated);
      const commands = new OutboxStore(migrated, "command");
      expect([events.backlog(), commands.backlog()]).toEqual([1, 0]);
      events.close();
      commands.close();
      migrated.close();
    }
  });
});
