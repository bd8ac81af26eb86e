/**
 * Commands on a queue, end to end, on real processes and real brokers: order confirms or cancels an order and writes
 * SendOrderEmail to its outbox; its command relay sends it to RabbitMQ; the notification service sends the email to
 * Mailpit and records it. This file brings its own RabbitMQ and Mailpit on free ports (scripts/rabbitmq.sh and
 * scripts/mailpit.sh through scripts/mesh/command-brokers.ts), because one test stops RabbitMQ for 30 s; the suite's
 * Kafka carries the saga. Everything it started is stopped at the end.
 */
import Database from "better-sqlite3";
import path from "node:path";
import { Connection } from "rabbitmq-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderEmailKind } from "#gen/shop/notification/v1/notification_commands_pb.js";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { type CommandBus, CommandQueues, createCommandBus, memoryCommandLedger } from "#shared/commands/index.js";
import { COMMAND_EXCHANGE } from "#shared/commands/rabbitmq-command-bus.js";
import { readCommandBusSettings } from "#shared/config.js";
import { acquireCommandBrokers, type CommandBrokers, runScript } from "../../scripts/mesh/command-brokers.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { createOrder, createProduct, orderOf, waitForStatus } from "./fixtures.js";
import { Mesh } from "./mesh.js";

interface MailpitMessage {
  readonly Subject: string;
  readonly Created: string;
  readonly To: { Address: string }[];
}

interface CommandRow {
  readonly event_id: string;
  readonly state: string;
  readonly times_sent: number;
}

const QUEUE = CommandQueues.orderEmails;

let brokers: CommandBrokers;
let rabbitEnv: Record<string, string>;
let mesh: Mesh;
let bus: CommandBus;
let productId: string;

beforeAll(async () => {
  const [rabbitmq, epmd, smtp, mailpitHttp] = [await freePort(), await freePort(), await freePort(), await freePort()];
  rabbitEnv = { RABBITMQ_NODE_PORT: String(rabbitmq), ERL_EPMD_PORT: String(epmd) };
  brokers = await acquireCommandBrokers({ rabbitmq, epmd, smtp, mailpitHttp }, "ignore");
  // notification at debug: its "command already handled; dropped" line is how a test sees a second delivery arrive.
  mesh = await Mesh.start({ commands: brokers, env: { notification: { LOG_LEVEL: "debug" } } });
  bus = createCommandBus(readCommandBusSettings({ COMMAND_BUS: "rabbitmq", RABBITMQ_URL: brokers.rabbitmqUrl }), {
    ledger: memoryCommandLedger(),
  });
  productId = await createProduct(mesh, 10_000);
}, 240_000);

afterAll(async () => {
  await bus?.close();
  await mesh?.stop();
  await brokers?.stop();
}, 120_000);

/** emailsOf lists the emails Mailpit holds about an order (its id is in every subject), oldest first. */
async function emailsOf(orderId: string): Promise<MailpitMessage[]> {
  const response = await fetch(`${brokers.mailpitUrl}/api/v1/messages?limit=1000`);
  if (!response.ok) throw new Error(`Mailpit answered ${response.status}`);
  const { messages } = (await response.json()) as { messages: MailpitMessage[] };
  return messages.filter((m) => m.Subject.includes(orderId)).sort((a, b) => a.Created.localeCompare(b.Created));
}

/** withOrderDb opens order's database beside the running service (WAL: a second connection is fine). */
function withOrderDb<T>(use: (db: Database.Database) => T): T {
  const db = new Database(path.join(mesh.root, "order", "order.db"));
  db.pragma("busy_timeout = 5000");
  try {
    return use(db);
  } finally {
    db.close();
  }
}

const commandRows = (orderId: string): CommandRow[] =>
  withOrderDb((db) =>
    db
      .prepare<[string], CommandRow>(`SELECT event_id, state, times_sent FROM outbox WHERE kind = 'command' AND subject = ? ORDER BY seq`)
      .all(orderId),
  );

async function confirmedOrder(): Promise<{ orderId: string; customerId: string }> {
  const request = orderOf(productId);
  const order = await createOrder(mesh, request);
  await waitForStatus(mesh, order.orderId, OrderStatus.CONFIRMED);
  return { orderId: order.orderId, customerId: request.customerId };
}

describe("a confirmed order's email, through order's outbox, RabbitMQ and the notification service", () => {
  it("when an order is confirmed, then exactly one email arrives, also after its command is delivered a second time", async () => {
    const { orderId, customerId } = await confirmedOrder();

    const [email] = await waitUntil(async () => ((await emailsOf(orderId)).length > 0 ? emailsOf(orderId) : undefined), {
      message: `the confirmation email of ${orderId} in Mailpit`,
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(email).toMatchObject({
      Subject: `Your order ${orderId} is confirmed`,
      To: [{ Address: `${customerId}@customers.shopmesh.local` }],
    });
    const [row] = await waitUntil(() => (commandRows(orderId)[0]?.state === "PUBLISHED" ? commandRows(orderId) : undefined), {
      message: "the command row PUBLISHED",
    });

    // A relay that crashed after the send and before marking the row sends it again: the same command, the same id.
    withOrderDb((db) => db.prepare(`UPDATE outbox SET state = 'NOT_PUBLISHED' WHERE event_id = ?`).run(row!.event_id));
    await waitUntil(() => commandRows(orderId)[0]?.times_sent === 2 && commandRows(orderId)[0]?.state === "PUBLISHED", {
      message: "the command sent a second time",
    });
    await waitUntil(
      () => mesh.logs("notification", 2_000).includes(`"commandId":"${row!.event_id}","msg":"command already handled; dropped"`),
      {
        message: "the second delivery dropped by the notification service",
        describe: () => mesh.logs("notification", 20),
      },
    );

    expect(await emailsOf(orderId)).toHaveLength(1);
    const { notifications } = await mesh.notification.listNotifications({ orderId });
    expect(notifications.map((n) => [n.notificationId, n.kind])).toEqual([[row!.event_id, OrderEmailKind.CONFIRMED]]);
  });

  it("when a confirmed order is then cancelled, then its emails and notifications come in that order: CONFIRMED, CANCELLED", async () => {
    const { orderId } = await confirmedOrder();
    await waitUntil(async () => (await emailsOf(orderId)).length === 1, { message: "the confirmation email", timeoutMs: 30_000 });

    await mesh.order.cancelOrder({ orderId, reason: "changed my mind" });

    await waitUntil(async () => (await emailsOf(orderId)).length === 2, { message: "the cancellation email", timeoutMs: 30_000 });
    expect((await emailsOf(orderId)).map((m) => m.Subject)).toEqual([
      `Your order ${orderId} is confirmed`,
      `Your order ${orderId} was cancelled`,
    ]);
    const { notifications } = await mesh.notification.listNotifications({ orderId });
    expect(notifications.map((n) => [n.kind, n.reason])).toEqual([
      [OrderEmailKind.CONFIRMED, ""],
      [OrderEmailKind.CANCELLED, "changed my mind"],
    ]);
  });

  it("when a message that is no command reaches the queue, then it is parked with the reason and no email is sent", async () => {
    const rabbit = new Connection(brokers.rabbitmqUrl);
    const publisher = rabbit.createPublisher({ confirm: true });
    const messageId = `not-a-command-${crypto.randomUUID()}`;
    try {
      await publisher.send(
        { exchange: COMMAND_EXCHANGE, routingKey: QUEUE, messageId, headers: { note: "no CloudEvents headers" } },
        "hello",
      );
    } finally {
      await publisher.close();
      await rabbit.close();
    }

    const parked = await waitUntil(async () => (await bus.parked(QUEUE)).find((p) => p.messageId === messageId), {
      message: "the message in the parking lot",
    });
    expect(parked.command).toBeUndefined();
    expect(parked.reason).toMatch(/^malformed: /);
  });

  it("when RabbitMQ is stopped for 30 s, then orders are still confirmed, their commands wait in order's outbox, and every email arrives once it is back", async () => {
    const stopped = await runScript("rabbitmq.sh", "stop", rabbitEnv);
    expect(stopped.code, stopped.output).toBe(0);
    const downSince = Date.now();
    let restarted = false;
    try {
      const orders = [await confirmedOrder(), await confirmedOrder(), await confirmedOrder()];
      // Polled for the whole outage: at no point does a command leave the outbox, and none is lost from it.
      await waitUntil(
        () => {
          for (const { orderId } of orders) {
            const rows = commandRows(orderId);
            expect(rows, orderId).toHaveLength(1);
            expect(rows[0]?.state, orderId).not.toBe("PUBLISHED");
          }
          return Date.now() - downSince >= 30_000;
        },
        { message: "30 s of RabbitMQ down", timeoutMs: 45_000, intervalMs: 1_000 },
      );

      const started = await runScript("rabbitmq.sh", "start", rabbitEnv);
      expect(started.code, started.output).toBe(0);
      restarted = true;

      for (const { orderId } of orders) {
        await waitUntil(async () => (await emailsOf(orderId)).length > 0, {
          message: `the email of ${orderId} after RabbitMQ came back`,
          timeoutMs: 60_000,
          intervalMs: 250,
          describe: () => `${JSON.stringify(commandRows(orderId))}\n${mesh.logs("order", 10)}\n${mesh.logs("notification", 10)}`,
        });
      }
      for (const { orderId } of orders) {
        expect(await emailsOf(orderId), orderId).toHaveLength(1);
        expect(commandRows(orderId).map((r) => r.state)).toEqual(["PUBLISHED"]);
      }
    } finally {
      if (!restarted) await runScript("rabbitmq.sh", "start", rabbitEnv);
    }
  }, 240_000);
});
