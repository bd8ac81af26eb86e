/**
 * The command queue made visible (issue 12, point 5), on a real mesh with the gateway whose notification service
 * sends to an SMTP port that refuses (nothing listens on port 1), on the suite's RabbitMQ, with two attempts 300 ms
 * apart: a confirmed order's email is retried, then parked. The notification service's /metrics, the gateway's
 * event-flow panel (`GET /ops/events`) and the order's "why" timeline all show it, with the reason.
 */
import { Connection } from "rabbitmq-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { parkedQueue } from "#shared/commands/rabbitmq-command-bus.js";
import { CommandQueues } from "#shared/commands/queues.js";
import { METRICS } from "#shared/metrics/index.js";
import { ALL_WRITE_SCOPES, signToken } from "../../gateway/src/auth.js";
import { loadConfig as gatewayConfig } from "../../gateway/src/config.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { createProduct, uniqueId, waitForStatus } from "./fixtures.js";
import { commandBrokers, Mesh } from "./mesh.js";

const QUEUE = CommandQueues.orderEmails;

let mesh: Mesh;
let productId: string;
let customerId: string;
let token: string;
let orderId: string;
let parkedBefore: number;
let parkedCountBefore: number;

/** metric sums the samples of `name` in the notification service's /metrics whose labels include `labels`. */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(mesh.metricsUrl("notification"), { signal: AbortSignal.timeout(5_000) })).text();
  let total = 0;
  for (const line of text.split("\n")) {
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample || sample[1] !== name) continue;
    const found = Object.fromEntries([...(sample[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(sample[3]);
  }
  return total;
}

beforeAll(async () => {
  mesh = await Mesh.start({
    gateway: true,
    commands: { rabbitmqUrl: commandBrokers().rabbitmqUrl, smtpUrl: "smtp://127.0.0.1:1" },
    env: { notification: { COMMAND_RETRY_ATTEMPTS: "2", COMMAND_RETRY_INITIAL_MS: "300", COMMAND_RETRY_MAX_MS: "300" } },
  });
  productId = await createProduct(mesh, 100);
  customerId = uniqueId("cust-visible");
  token = await signToken(gatewayConfig({}).jwt, { subject: customerId, scopes: ALL_WRITE_SCOPES, ttlSeconds: 600 });
  // Earlier files leave their own parked commands on the suite's broker: the figures are compared with these.
  const before = await waitUntil(
    async () =>
      (await metric(METRICS.commandQueueUp, {})) === 1 && {
        parked: await metric(METRICS.commandQueueMessages, { queue: QUEUE, state: "parked" }),
      },
    { message: "the notification service's queue figures" },
  );
  parkedBefore = before.parked;
  parkedCountBefore = await metric(METRICS.commandsTotal, { queue: QUEUE, outcome: "parked" });

  const response = await fetch(`http://${mesh.address("gateway")}/api/v2/orders`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
    body: JSON.stringify({ customerId, items: [{ productId, quantity: 1 }], payment: { cardToken: "tok_visa" } }),
  });
  expect(response.status).toBe(201);
  orderId = ((await response.json()) as { order: { orderId: string } }).order.orderId;
  await waitForStatus(mesh, orderId, OrderStatus.CONFIRMED);
});

afterAll(async () => {
  await mesh?.stop();
  // Take this file's parked email off the suite's broker, so later files start from the parking lot they found.
  if (orderId) await removeParked(orderId);
});

/** removeParked acknowledges the parked messages about `subject` and returns the others to the parking lot. */
async function removeParked(subject: string): Promise<void> {
  const rabbit = new Connection(commandBrokers().rabbitmqUrl);
  const channel = await rabbit.acquire();
  try {
    for (;;) {
      const msg = await channel.basicGet({ queue: parkedQueue(QUEUE), noAck: false });
      if (msg === undefined) break;
      const about = msg.headers?.["ce_subject"];
      if (String(about) === subject) await channel.basicAck({ deliveryTag: msg.deliveryTag });
    }
  } finally {
    await channel.close(); // what was not acknowledged goes back, in its place
    await rabbit.close();
  }
}

describe("a parked email, visible", () => {
  it("when the SMTP sink refuses, then /metrics counts the retry and the parking, and the parked gauge moves", async () => {
    await waitUntil(async () => (await metric(METRICS.commandsTotal, { queue: QUEUE, outcome: "parked" })) > parkedCountBefore, {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: "the email command parked",
    });

    expect(await metric(METRICS.commandsTotal, { queue: QUEUE, outcome: "retried" })).toBeGreaterThanOrEqual(1);
    expect(await metric(METRICS.commandQueueMessages, { queue: QUEUE, state: "parked" })).toBe(parkedBefore + 1);
    expect(await metric(METRICS.commandQueueMessages, { queue: QUEUE, state: "unacked" })).toBe(0);
  });

  it("when the event-flow panel is read, then the queue shows the parked email with its reason and order", async () => {
    const row = await waitUntil(
      async () => {
        const report = (await (await fetch(`http://${mesh.address("gateway")}/ops/events`)).json()) as {
          commandQueues: { queue: string; available: boolean; parked: number; latestParked: { subject: string; reason: string }[] }[];
        };
        const queue = report.commandQueues.find((q) => q.queue === QUEUE);
        return queue?.latestParked.some((entry) => entry.subject === orderId) && queue;
      },
      { timeoutMs: 30_000, intervalMs: 300, message: "the parked email on the panel" },
    );

    expect(row).toMatchObject({ available: true, parked: parkedBefore + 1 });
    const entry = row.latestParked.find((e) => e.subject === orderId);
    expect(entry?.reason).toMatch(/ECONNREFUSED|refused/i);
  });

  it("when the order's timeline is read, then it shows the parked email and the diagnosis names it with the unpark command", async () => {
    const response = await fetch(`http://${mesh.address("gateway")}/api/v1/orders/${orderId}/timeline`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const timeline = (await response.json()) as {
      diagnosis: { state: string; text: string };
      parkedCommands: { messageId: string }[];
      entries: { source: string; text: string }[];
    };

    expect(response.status).toBe(200);
    expect(timeline.parkedCommands).toHaveLength(1);
    expect(timeline.entries.some((e) => e.source === "parked" && /SendOrderEmail parked in notification\.email\.parked/.test(e.text))).toBe(
      true,
    );
    expect(timeline.diagnosis.state).toBe("confirmed");
    expect(timeline.diagnosis.text).toBe(
      `confirmed; the confirmation email is parked: ${timeline.entries
        .find((e) => e.source === "parked")
        ?.text.split(": ")
        .slice(1)
        .join(": ")}; fix, then npm run dlq -- unpark notification.email ${timeline.parkedCommands[0]!.messageId}`,
    );
  });
});
