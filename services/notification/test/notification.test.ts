/**
 * The notification service in-process, from the kit, against real brokers started here on free ports: RabbitMQ
 * (scripts/rabbitmq.sh) carries the commands and Mailpit (scripts/mailpit.sh) is the SMTP sink whose HTTP API says
 * which emails arrived. Commands are sent the way order's outbox relay sends them, through the command bus. A broker
 * that cannot start fails the suite, saying why.
 */
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MoneySchema } from "#gen/shop/common/v1/money_pb.js";
import { OrderEmailKind, SendOrderEmailSchema } from "#gen/shop/notification/v1/notification_commands_pb.js";
import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { type Command, type CommandBus, createCommandBus, memoryCommandLedger, toCommand } from "#shared/commands/index.js";
import { readCommandBusSettings } from "#shared/config.js";
import { createClient, type ServiceClient } from "#shared/grpc/index.js";
import { freePort } from "../../../scripts/mesh/free-port.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { script } from "../../../test/system/daemons.js";
import { grpcError, runGrpcurl } from "../../../test/system/fixtures.js";
import { type NotificationApp, startNotification } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { EMAIL_QUEUE } from "../src/notifications.js";

interface MailpitMessage {
  readonly ID: string;
  readonly MessageID: string;
  readonly Subject: string;
  readonly To: { Address: string }[];
}

describe("notification service: SendOrderEmail commands on RabbitMQ → SMTP (Mailpit) → NotificationService", () => {
  const rabbitEnv: Record<string, string> = {};
  const mailpitEnv: Record<string, string> = {};
  let rabbitUrl = "";
  let mailpitApi = "";
  let dataDir = "";
  let app: NotificationApp;
  let sender: CommandBus;
  let client: ServiceClient<typeof NotificationService>;

  const startMailpit = async () => {
    const started = await script("mailpit.sh", "start", mailpitEnv);
    expect(started.code, started.output).toBe(0);
  };
  const stopMailpit = async () => {
    const stopped = await script("mailpit.sh", "stop", mailpitEnv);
    expect(stopped.code, stopped.output).toBe(0);
  };

  beforeAll(async () => {
    const [nodePort, distPort, epmdPort, smtpPort, httpPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    Object.assign(rabbitEnv, {
      RABBITMQ_NODE_PORT: String(nodePort),
      RABBITMQ_DIST_PORT: String(distPort),
      ERL_EPMD_PORT: String(epmdPort),
    });
    Object.assign(mailpitEnv, { MAILPIT_SMTP_PORT: String(smtpPort), MAILPIT_HTTP_PORT: String(httpPort) });
    rabbitUrl = `amqp://guest:guest@127.0.0.1:${nodePort}`;
    mailpitApi = `http://127.0.0.1:${httpPort}/api/v1`;
    const [rabbit] = await Promise.all([script("rabbitmq.sh", "start", rabbitEnv), startMailpit()]);
    expect(rabbit.code, rabbit.output).toBe(0);
    dataDir = mkdtempSync(path.join(tmpdir(), "shopmesh-notification-"));
    const env = {
      MESH_INSECURE: "1",
      PORT: "0",
      METRICS_PORT: "0",
      DATA_DIR: dataDir,
      COMMAND_BUS: "rabbitmq",
      RABBITMQ_URL: rabbitUrl,
      // Three calls, 500 ms then 1 s apart: a command the sink refuses is parked in about 1.5 s.
      COMMAND_RETRY_ATTEMPTS: "3",
      COMMAND_RETRY_INITIAL_MS: "500",
      COMMAND_RETRY_MAX_MS: "1000",
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      SMTP_TIMEOUT_MS: "2000",
      SHUTDOWN_DRAIN_MS: "0",
    };
    app = await startNotification(loadConfig(env));
    sender = createCommandBus(readCommandBusSettings(env), { ledger: memoryCommandLedger() });
    client = createClient(NotificationService, app.address, { defaultTimeoutMs: 5_000 });
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await sender?.close();
    await app?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    const results = await Promise.all([script("mailpit.sh", "stop", mailpitEnv), script("rabbitmq.sh", "stop", rabbitEnv)]);
    for (const result of results) expect(result.code, result.output).toBe(0);
  }, 120_000);

  function orderEmail(orderId: string, kind: OrderEmailKind, init: { id?: string; customerId?: string; reason?: string } = {}): Command {
    return toCommand(
      SendOrderEmailSchema,
      create(SendOrderEmailSchema, {
        orderId,
        customerId: init.customerId ?? "c-42",
        kind,
        total: create(MoneySchema, { currencyCode: "EUR", amountMinor: 2_550n }),
        reason: init.reason ?? "",
      }),
      { id: init.id ?? crypto.randomUUID(), source: "shopmesh/notification-test", subject: orderId },
    );
  }

  /** emailsOf lists the emails Mailpit holds about an order (its id is in every subject). */
  async function emailsOf(orderId: string): Promise<MailpitMessage[]> {
    const response = await fetch(`${mailpitApi}/messages?limit=1000`);
    if (!response.ok) throw new Error(`Mailpit answered ${response.status}`);
    const { messages } = (await response.json()) as { messages: MailpitMessage[] };
    return messages.filter((message) => message.Subject.includes(orderId));
  }

  it("when an order's confirmation is sent twice under one id, then exactly one email arrives and one notification is recorded", async () => {
    const orderId = crypto.randomUUID();
    const command = orderEmail(orderId, OrderEmailKind.CONFIRMED);

    await sender.send(EMAIL_QUEUE, [command]);
    await sender.send(EMAIL_QUEUE, [command]);

    const [email] = await waitUntil(async () => ((await emailsOf(orderId)).length > 0 ? emailsOf(orderId) : undefined), {
      message: "the confirmation email in Mailpit",
      timeoutMs: 15_000,
    });
    expect(email).toMatchObject({ Subject: `Your order ${orderId} is confirmed`, To: [{ Address: "c-42@customers.shopmesh.local" }] });
    // The second delivery is dropped by the ledger once the first is handled; give it the time a handling takes.
    const { notification } = await waitUntil(() => client.getNotification({ notificationId: command.id }).catch(() => undefined));
    expect(notification).toMatchObject({ orderId, customerId: "c-42", kind: OrderEmailKind.CONFIRMED, attempts: 1 });
    expect(`<${email?.MessageID}>`).toBe(notification?.smtpMessageId);
    const parked = await sender.parked(EMAIL_QUEUE);
    expect(parked.filter((p) => p.command?.id === command.id)).toEqual([]);
    await waitUntil(() => app.db.prepare("SELECT 1 AS found FROM inbox WHERE event_id = ?").get(command.id), {
      message: "the command in the ledger",
    });
    expect(await emailsOf(orderId)).toHaveLength(1);
    const { notifications } = await client.listNotifications({ orderId });
    expect(notifications.map((n) => n.notificationId)).toEqual([command.id]);
  });

  it("when the SMTP sink is down, then the command is retried with backoff, parked with the reason, and a replay sends it once", async () => {
    const orderId = crypto.randomUUID();
    const command = orderEmail(orderId, OrderEmailKind.CANCELLED, { reason: "payment declined" });
    await stopMailpit();
    try {
      const sentAt = performance.now();
      await sender.send(EMAIL_QUEUE, [command]);
      const parked = await waitUntil(async () => (await sender.parked(EMAIL_QUEUE)).find((p) => p.command?.id === command.id), {
        message: "the command in the parking lot",
        timeoutMs: 20_000,
      });
      expect(parked.attempts).toBe(3);
      // Backoff: 500 ms after the first call, 1 s after the second, so no sooner than 1.5 s after the send.
      expect(performance.now() - sentAt).toBeGreaterThanOrEqual(1_400);
      expect(parked.reason).toMatch(/ECONNREFUSED|connect/i);
    } finally {
      await startMailpit();
    }
    expect(await emailsOf(orderId)).toEqual([]);

    expect(await sender.replay(EMAIL_QUEUE, { ids: [command.id] })).toBe(1);

    await waitUntil(async () => (await emailsOf(orderId)).length === 1, { message: "the replayed email", timeoutMs: 15_000 });
    const { notification } = await waitUntil(() => client.getNotification({ notificationId: command.id }).catch(() => undefined));
    expect(notification).toMatchObject({ kind: OrderEmailKind.CANCELLED, reason: "payment declined" });
    expect((await emailsOf(orderId))[0]?.Subject).toBe(`Your order ${orderId} was cancelled`);
  }, 60_000);

  it("when a command is malformed (no kind, no UUID order id), then it is parked at once with the reason and nothing is sent", async () => {
    const noKind = orderEmail(crypto.randomUUID(), OrderEmailKind.UNSPECIFIED);
    const badOrder = orderEmail("not-an-order", OrderEmailKind.CONFIRMED);

    await sender.send(EMAIL_QUEUE, [noKind, badOrder]);

    const parked = await waitUntil(
      async () => {
        const all = await sender.parked(EMAIL_QUEUE);
        const ours = [noKind, badOrder].map((c) => all.find((p) => p.command?.id === c.id));
        return ours.every((p) => p !== undefined) ? ours : undefined;
      },
      { message: "both commands in the parking lot" },
    );
    expect(parked.map((p) => [p?.reason, p?.attempts])).toEqual([
      ["PermanentCommandError: kind: must be CONFIRMED or CANCELLED, got 0", 1],
      ['PermanentCommandError: order_id: must be a UUID, got "not-an-order"', 1],
    ]);
    expect(await emailsOf(noKind.subject)).toEqual([]);
  });

  it("when an order's commands are sent in order, then its emails and notifications keep that order, and WatchNotifications streams what exists then what arrives", async () => {
    const orderId = crypto.randomUUID();
    const confirmed = orderEmail(orderId, OrderEmailKind.CONFIRMED);
    await sender.send(EMAIL_QUEUE, [confirmed]);
    await waitUntil(() => client.getNotification({ notificationId: confirmed.id }).catch(() => undefined));

    const watching = new AbortController();
    const seen: string[] = [];
    const watch = (async () => {
      for await (const { notification } of client.watchNotifications({ orderId }, { signal: watching.signal, timeoutMs: 30_000 })) {
        seen.push(notification?.notificationId ?? "");
      }
    })().catch((error: { code?: number }) => {
      if (error.code !== status.CANCELLED) throw error;
    });
    await waitUntil(() => seen.length === 1, { message: "the existing notification on the stream" });
    const cancelled = orderEmail(orderId, OrderEmailKind.CANCELLED, { reason: "changed my mind" });
    await sender.send(EMAIL_QUEUE, [cancelled]);
    await waitUntil(() => seen.length === 2, { message: "the new notification on the stream" });
    watching.abort();
    await watch;

    expect(seen).toEqual([confirmed.id, cancelled.id]);
    const { notifications } = await client.listNotifications({ orderId });
    expect(notifications.map((n) => n.kind)).toEqual([OrderEmailKind.CONFIRMED, OrderEmailKind.CANCELLED]);
  });

  it("when ListNotifications pages, then each page follows the last and the token is bound to its order", async () => {
    const orderId = crypto.randomUUID();
    const commands = [1, 2, 3].map(() => orderEmail(orderId, OrderEmailKind.CANCELLED, { reason: "r" }));
    await sender.send(EMAIL_QUEUE, commands);
    await waitUntil(async () => (await client.listNotifications({ orderId })).notifications.length === 3, {
      message: "three notifications",
    });

    const first = await client.listNotifications({ orderId, pageSize: 2 });
    const second = await client.listNotifications({ orderId, pageSize: 2, pageToken: first.nextPageToken });

    expect([...first.notifications, ...second.notifications].map((n) => n.notificationId)).toEqual(commands.map((c) => c.id));
    expect(second.nextPageToken).toBe("");
    const other = await grpcError(client.listNotifications({ orderId: crypto.randomUUID(), pageToken: first.nextPageToken }));
    expect(other).toMatchObject({ code: status.INVALID_ARGUMENT, details: "page_token: was issued for different filters" });
  });

  it.each([
    { call: "GetNotification without an id", run: (c: typeof client) => c.getNotification({}), details: "notification_id: required" },
    { call: "ListNotifications without an order", run: (c: typeof client) => c.listNotifications({}), details: "order_id: required" },
    {
      call: "ListNotifications with a bad order id",
      run: (c: typeof client) => c.listNotifications({ orderId: "42" }),
      details: "order_id: must be a UUID",
    },
    {
      call: "ListNotifications with a negative page size",
      run: (c: typeof client) => c.listNotifications({ orderId: crypto.randomUUID(), pageSize: -1 }),
      details: "page_size: must not be negative",
    },
    {
      call: "WatchNotifications with a bad order id",
      run: async (c: typeof client) => {
        for await (const _ of c.watchNotifications({ orderId: "nope" })) break;
      },
      details: "order_id: must be a UUID",
    },
  ])("when $call, then INVALID_ARGUMENT names the field", async ({ run, details }) => {
    expect(await grpcError(run(client))).toMatchObject({ code: status.INVALID_ARGUMENT, details });
  });

  it("when a notification does not exist, then GetNotification is NOT_FOUND", async () => {
    expect(await grpcError(client.getNotification({ notificationId: "nope" }))).toMatchObject({ code: status.NOT_FOUND });
  });

  it("when grpcurl asks with no proto files, then reflection describes NotificationService and health says SERVING", async () => {
    const { stdout: services } = await runGrpcurl(["-plaintext", app.address, "list"]);
    expect(services.split("\n")).toContain("shop.notification.v1.NotificationService");
    const { stdout: health } = await runGrpcurl([
      "-plaintext",
      "-d",
      '{"service":"shop.notification.v1.NotificationService"}',
      app.address,
      "grpc.health.v1.Health/Check",
    ]);
    expect(JSON.parse(health)).toEqual({ status: "SERVING" });
  });
});
