import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, createHandlerContext } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  GetCommandQueuesRequestSchema,
  GetCommandQueuesResponseSchema,
  GetEventStatusRequestSchema,
  GetEventStatusResponseSchema,
  ListAggregateEventsRequestSchema,
  ListAggregateEventsResponseSchema,
  OpsService,
  OutboxState,
  type GetEventStatusResponse,
  type ListAggregateEventsResponse,
} from "#gen/shop/ops/v1/ops_service_pb.js";
import { type CommandBus, CommandBusUnavailableError, type ParkedCommand } from "#shared/commands/index.js";
import type { OutgoingEvent } from "#shared/events/event-bus.js";
import { Inbox, inboxSchema } from "#shared/events/inbox.js";
import { OutboxRelay, OutboxStore, outboxSchema, type OutboxEvent } from "#shared/events/outbox.js";
import { createClient } from "#shared/grpc/client.js";
import { bindServer, createGrpcServer } from "#shared/grpc/server.js";
import { createOpsServiceImpl, opsService } from "#shared/ops-service.js";
import { openDatabase, type SqliteDatabase } from "#shared/store/database.js";

let dir: string;
let db: SqliteDatabase;
let outbox: OutboxStore;

function event(n: number): OutboxEvent {
  return {
    id: `evt-${n}-${crypto.randomUUID()}`,
    topic: "shop.test.events",
    type: "shop.test.v1.Happened",
    source: "test",
    subject: `subject-${n}`,
    time: new Date(),
    data: new Uint8Array([n]),
  };
}

/** status calls the handler straight, with the context Connect builds for unit tests. */
async function status(): Promise<GetEventStatusResponse> {
  const impl = createOpsServiceImpl({ service: "order", db });
  const method = OpsService.method.getEventStatus;
  const ctx = createHandlerContext({ service: OpsService, method, protocolName: "test", requestMethod: "POST", url: "/" });
  const response = await impl.getEventStatus(create(GetEventStatusRequestSchema), ctx);
  return create(GetEventStatusResponseSchema, response);
}

/** aggregate calls ListAggregateEvents straight, like status. */
async function aggregate(subject: string, eventIds: string[] = []): Promise<ListAggregateEventsResponse> {
  const impl = createOpsServiceImpl({ service: "order", db });
  const method = OpsService.method.listAggregateEvents;
  const ctx = createHandlerContext({ service: OpsService, method, protocolName: "test", requestMethod: "POST", url: "/" });
  const response = await impl.listAggregateEvents(create(ListAggregateEventsRequestSchema, { subject, eventIds }), ctx);
  return create(ListAggregateEventsResponseSchema, response);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ops-test-"));
  db = openDatabase(join(dir, "ops.db"), [...outboxSchema, ...inboxSchema]);
  outbox = new OutboxStore(db);
});

afterEach(() => {
  outbox.close(); // the relay's bookkeeping connection, opened by flush()
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("OpsService.GetEventStatus", () => {
  it("when the outbox and inbox are empty, then every count is zero and no pending time is set", async () => {
    expect(await status()).toMatchObject({
      service: "order",
      outboxPending: 0n,
      outboxFailed: 0n,
      outboxPublished: 0n,
      inboxProcessed: 0n,
    });
    expect((await status()).oldestPendingTime).toBeUndefined();
  });

  it("when a row is added and then published, then it moves from pending to published", async () => {
    const before = Date.now();
    db.transaction(() => outbox.add(event(1)))();

    const pending = await status();
    expect(pending).toMatchObject({ outboxPending: 1n, outboxFailed: 0n, outboxPublished: 0n });
    const oldest = timestampDate(pending.oldestPendingTime!).getTime();
    expect(oldest).toBeGreaterThanOrEqual(before - 1_000);
    expect(oldest).toBeLessThanOrEqual(Date.now() + 1_000);

    const sent: OutgoingEvent[] = [];
    await new OutboxRelay(outbox, { publish: async (_topic, events) => void sent.push(...events) }).flush();

    expect(sent).toHaveLength(1);
    expect(await status()).toMatchObject({ outboxPending: 0n, outboxFailed: 0n, outboxPublished: 1n });
    expect((await status()).oldestPendingTime).toBeUndefined();
  });

  it("when publishing fails, then the row counts as failed and still pending", async () => {
    db.transaction(() => {
      outbox.add(event(1));
      outbox.add(event(2));
    })();

    await new OutboxRelay(outbox, { publish: async () => Promise.reject(new Error("broker down")) }).flush();

    expect(await status()).toMatchObject({ outboxPending: 2n, outboxFailed: 2n, outboxPublished: 0n });
  });

  it("when a consumer handles events once each, then inbox_processed counts them", async () => {
    const inbox = new Inbox(db);
    inbox.once("order.payment-events", { id: "e1", type: "t" }, () => undefined);
    inbox.once("order.payment-events", { id: "e1", type: "t" }, () => undefined); // a redelivery
    inbox.once("order.payment-events", { id: "e2", type: "t" }, () => undefined);

    expect((await status()).inboxProcessed).toBe(2n);
  });

  it("when served over gRPC, then a typed client reads the same counts", async () => {
    db.transaction(() => outbox.add(event(1)))();
    const { server } = createGrpcServer({ services: [opsService({ service: "payment", db })] });
    const port = await bindServer(server, "127.0.0.1:0");
    const client = createClient(OpsService, `127.0.0.1:${port}`, { defaultTimeoutMs: 5_000 });
    try {
      const response = await client.getEventStatus({});

      expect(response).toMatchObject({ service: "payment", outboxPending: 1n, outboxPublished: 0n, inboxProcessed: 0n });
      expect(response.oldestPendingTime).toBeDefined();
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe("OpsService.ListAggregateEvents", () => {
  it("when an aggregate's rows are published, then they come back oldest first with their partition and offset", async () => {
    const first = { ...event(1), subject: "order-a" };
    const second = { ...event(2), subject: "order-a" };
    const other = { ...event(3), subject: "order-b" };
    db.transaction(() => {
      for (const row of [first, other, second]) outbox.add(row);
    })();
    let offset = 40;
    await new OutboxRelay(outbox, {
      publish: async (_topic, events) => events.map(() => ({ partition: 2, offset: String(offset++) })),
    }).flush();

    const answer = await aggregate("order-a");

    expect(answer.service).toBe("order");
    expect(answer.events.map((row) => row.eventId)).toEqual([first.id, second.id]);
    expect(answer.events[0]).toMatchObject({
      eventType: "shop.test.v1.Happened",
      topic: "shop.test.events",
      state: OutboxState.PUBLISHED,
      timesSent: 1,
      partition: 2,
      offset: 40n,
    });
    expect(answer.events[1]).toMatchObject({ partition: 2, offset: 42n });
    expect(answer.events[0]?.publishTime).toBeDefined();
  });

  it("when a send failed, then the row is FAILED with its error and no position", async () => {
    db.transaction(() => outbox.add({ ...event(1), subject: "order-c" }))();
    await new OutboxRelay(outbox, { publish: async () => Promise.reject(new Error("broker down")) }).flush();

    const [row] = (await aggregate("order-c")).events;

    expect(row).toMatchObject({ state: OutboxState.FAILED, lastError: "broker down", timesSent: 1 });
    expect(row?.partition).toBeUndefined();
    expect(row?.offset).toBeUndefined();
    expect(row?.publishTime).toBeUndefined();
  });

  it("when asked about event ids, then it returns those this service's inbox handled, with the consumer", async () => {
    const inbox = new Inbox(db);
    inbox.once("payment.order-created", { id: "e1", type: "t" }, () => undefined);
    inbox.once("payment.order-cancelled", { id: "e9", type: "t" }, () => undefined);

    const { handled } = await aggregate("order-a", ["e1", "e2"]);

    expect(handled.map((entry) => [entry.eventId, entry.consumer])).toEqual([["e1", "payment.order-created"]]);
    expect(handled[0]?.handleTime).toBeDefined();
  });

  it("when the subject is empty, then it is INVALID_ARGUMENT naming subject", async () => {
    await expect(aggregate("")).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringContaining("subject") });
  });
});

describe("GetCommandQueues", () => {
  /** fakeBus answers figures and a parking lot as given; the other methods are not called by GetCommandQueues. */
  function fakeBus(parked: ParkedCommand[], down = false): CommandBus {
    const unused = async (): Promise<never> => {
      throw new Error("not used by GetCommandQueues");
    };
    return {
      kind: "rabbitmq",
      send: unused,
      consume: unused,
      declare: unused,
      replay: unused,
      close: async () => {},
      parked: async () => parked,
      figures: async (queue) => {
        if (down) throw new CommandBusUnavailableError("reading the figures: RabbitMQ at amqp://127.0.0.1:1: ECONNREFUSED");
        return { queue, ready: 4, unacked: 1, retrying: 2, parked: parked.length };
      },
    };
  }
  const entry = (subject: string, id: string, minute: number): ParkedCommand => ({
    command: {
      id,
      type: "shop.notification.v1.SendOrderEmail",
      source: "shopmesh/order",
      subject,
      time: new Date(),
      data: new Uint8Array(),
    },
    messageId: id,
    reason: `SMTP refused ${id}`,
    attempts: 5,
    parkedAt: new Date(`2026-12-01T10:${String(minute).padStart(2, "0")}:00.000Z`),
  });
  async function queues(bus: CommandBus | undefined, request: { parkedLimit?: number; subject?: string }) {
    const impl = createOpsServiceImpl({ service: "notification", db, commands: bus && { bus, queues: ["notification.email"] } });
    const method = OpsService.method.getCommandQueues;
    const ctx = createHandlerContext({ service: OpsService, method, protocolName: "test", requestMethod: "POST", url: "/" });
    return create(GetCommandQueuesResponseSchema, await impl.getCommandQueues(create(GetCommandQueuesRequestSchema, request), ctx));
  }

  it("when a queue has parked commands, then it answers the figures and the latest ones first, bounded, or those of one subject", async () => {
    const bus = fakeBus([entry("order-a", "c1", 1), entry("order-b", "c2", 2), entry("order-a", "c3", 3)]);

    const latest = await queues(bus, { parkedLimit: 2 });
    const ofA = await queues(bus, { subject: "order-a" });

    expect(latest.queues).toHaveLength(1);
    expect(latest.queues[0]).toMatchObject({ queue: "notification.email", ready: 4n, unacked: 1n, retrying: 2n, parked: 3n });
    expect(latest.queues[0]!.latestParked.map((p) => p.messageId)).toEqual(["c3", "c2"]);
    expect(latest.queues[0]!.latestParked[0]).toMatchObject({ subject: "order-a", reason: "SMTP refused c3", attempts: 5 });
    expect(ofA.queues[0]!.latestParked.map((p) => p.messageId)).toEqual(["c3", "c1"]);
  });

  it("when the service consumes no commands, then no queues; when the broker is down, UNAVAILABLE; a bad limit is INVALID_ARGUMENT", async () => {
    expect((await queues(undefined, {})).queues).toEqual([]);
    await expect(queues(fakeBus([], true), {})).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(queues(fakeBus([]), { parkedLimit: -1 })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "parked_limit: must not be negative",
    });
  });
});
