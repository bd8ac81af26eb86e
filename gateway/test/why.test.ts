/**
 * "Why is my order stuck?" against a real mesh, a real broker and a real Zipkin: the gateway's timeline route and
 * `npm run why` give the right diagnosis for a confirmed order, a declined payment, an event dead-lettered by its
 * consumer, and an order whose payment consumer is stopped; and the CLI fails clearly for an unknown order and a
 * gateway that does not answer.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { Topics } from "#shared/events/topics.js";
import { ROOT } from "../../scripts/mesh/child.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { createOrder, createProduct, orderOf, waitForStatus } from "../../test/system/fixtures.js";
import type { Timeline } from "../src/why/model.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

const run = promisify(execFile);
const TEST_MS = 120_000;

let gm: GatewayMesh;
let zipkinPort: number | undefined;
let admin: string;

async function zipkin(command: "start" | "stop", port: number): Promise<void> {
  await run("bash", [path.join(ROOT, "scripts", "zipkin.sh"), command], {
    cwd: ROOT,
    env: { ...process.env, ZIPKIN_PORT: String(port) },
    timeout: 300_000,
  });
}

beforeAll(async () => {
  zipkinPort = await freePort();
  await zipkin("start", zipkinPort);
  const traced = { TRACING: "zipkin", ZIPKIN_ENDPOINT: `http://127.0.0.1:${zipkinPort}/api/v2/spans` };
  gm = await startGatewayMesh({
    env: { ZIPKIN_URL: `http://127.0.0.1:${zipkinPort}` },
    mesh: {
      env: {
        order: traced,
        inventory: traced,
        // EUR only, so a USD order's OrderCreated is an operational fault; two quick attempts before the DLQ.
        payment: { ...traced, PAYMENT_CURRENCIES: "EUR", EVENT_RETRY_ATTEMPTS: "2", EVENT_RETRY_INITIAL_MS: "100" },
      },
    },
  });
  admin = await gm.token();
}, 400_000);

afterAll(async () => {
  await gm?.stop();
  if (zipkinPort !== undefined) await zipkin("stop", zipkinPort).catch(() => undefined);
});

async function timelineOf(
  orderId: string,
  token = admin,
): Promise<{ status: number; body: Timeline & { code?: string; message?: string } }> {
  const response = await fetch(`${gm.baseUrl}/api/v1/orders/${encodeURIComponent(orderId)}/timeline`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as Timeline & { code?: string; message?: string } };
}

/** diagnosisOf polls the timeline until its diagnosis satisfies `accept` (the saga and the exports take a moment). */
async function diagnosisOf(orderId: string, accept: (timeline: Timeline) => boolean, what: string): Promise<Timeline> {
  let last: Timeline | undefined;
  return waitUntil(
    async () => {
      const { status, body } = await timelineOf(orderId);
      expect(status, JSON.stringify(body)).toBe(200);
      last = body;
      return accept(body) && body;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 500,
      message: what,
      describe: () => `last diagnosis: ${last?.diagnosis.text}\n${JSON.stringify(last?.entries, null, 1)}`,
    },
  );
}

/** why runs `npm run why`'s script against the test gateway; a non-zero exit is returned, not thrown. */
async function why(args: string[], gateway = gm.baseUrl): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "scripts/why.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, GATEWAY_URL: gateway, SHOP_TOKEN: admin },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

describe("why is my order stuck?", () => {
  it(
    "when an order is confirmed, then the timeline merges history, outbox offsets, consumers and spans, and says confirmed",
    async () => {
      const mesh = gm.mesh!;
      const order = await createOrder(mesh, orderOf(await createProduct(mesh, 5), 1));
      await waitForStatus(mesh, order.orderId, OrderStatus.CONFIRMED, 45_000);

      // Spans are exported in batches, so wait until the consumer side of the trace has reached Zipkin too (Zipkin
      // keeps span names in lower case).
      const named = (t: Timeline, name: string) => t.spans.some((span) => span.name === name);
      const timeline = await diagnosisOf(
        order.orderId,
        (t) =>
          t.diagnosis.text === "confirmed" &&
          named(t, "shop.order.v1.orderservice/createorder") &&
          named(t, `process ${Topics.orderEvents}`) &&
          named(t, `send ${Topics.paymentEvents}`),
        "a confirmed timeline with the CreateOrder, send and process spans",
      );
      const processed = timeline.spans.find((span) => span.name === `process ${Topics.orderEvents}` && span.service === "payment");
      expect(processed).toMatchObject({ kind: "consumer", error: "", group: mesh.groupIds.payment });
      const created = timeline.events.find((event) => event.name === "OrderCreated");
      expect(created).toMatchObject({ service: "order", state: "PUBLISHED", topic: Topics.orderEvents });
      expect(created?.partition).toEqual(expect.any(Number));
      expect(created?.offset).toMatch(/^\d+$/);
      const payment = created?.consumers.find((consumer) => consumer.service === "payment");
      expect(payment).toMatchObject({ groupId: mesh.groupIds.payment, passed: true, handledBy: ["payment.order-created"] });
      expect(timeline.events.map((event) => event.name)).toEqual(
        expect.arrayContaining(["OrderCreated", "PaymentAuthorized", "OrderConfirmed"]),
      );
      expect(timeline.sources.every((source) => source.ok)).toBe(true);
      const times = timeline.entries.map((entry) => entry.time);
      expect(times).toEqual([...times].sort());

      const cli = await why([order.orderId]);
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout.trim().split("\n").at(-1)).toBe("diagnosis: confirmed");
      expect(cli.stdout).toContain(
        `OrderCreated published to ${Topics.orderEvents} partition ${created?.partition} offset ${created?.offset}`,
      );
    },
    TEST_MS,
  );

  it(
    "when the card is declined, then the diagnosis is the cancellation with the decline reason",
    async () => {
      const mesh = gm.mesh!;
      const order = await createOrder(mesh, orderOf(await createProduct(mesh, 5), 1, { cardToken: "tok_decline" }));
      await waitForStatus(mesh, order.orderId, OrderStatus.CANCELLED, 45_000);

      const timeline = await diagnosisOf(order.orderId, (t) => t.diagnosis.state === "cancelled", "a cancelled diagnosis");
      const [payment] = (await mesh.payment.listPayments({ orderId: order.orderId })).payments;
      expect(timeline.diagnosis.text).toBe(`cancelled: payment declined (${payment?.declineReason})`);
      expect(payment?.declineReason).not.toBe("");
      expect(timeline.entries.some((entry) => entry.source === "payment" && entry.text.includes("DECLINED"))).toBe(true);
    },
    TEST_MS,
  );

  it(
    "when payment dead-letters the order's OrderCreated, then the diagnosis names the DLQ, the error and the replay command",
    async () => {
      const mesh = gm.mesh!;
      const order = await createOrder(mesh, orderOf(await createProduct(mesh, 5, 999n, "USD"), 1));

      // Dead-lettered, and both failed attempts' CONSUMER spans have reached Zipkin (the retries show on the timeline).
      const failedAttempts = (t: Timeline) =>
        t.spans.filter((span) => span.kind === "consumer" && span.service === "payment" && span.error !== "").length;
      const timeline = await diagnosisOf(
        order.orderId,
        (t) => t.diagnosis.state === "dead-lettered" && failedAttempts(t) === 2,
        "a dead-lettered diagnosis with two failed attempts",
      );
      const created = timeline.events.find((event) => event.name === "OrderCreated");
      const attempts = timeline.spans.filter((span) => span.kind === "consumer" && span.error !== "");
      expect(attempts.map((span) => [span.eventId, span.group])).toEqual([
        [created?.eventId, mesh.groupIds.payment],
        [created?.eventId, mesh.groupIds.payment],
      ]);
      expect(timeline.entries.filter((entry) => entry.source === "span" && entry.level === "warn")).toHaveLength(2);
      const [letter] = timeline.deadLetters;
      expect(letter).toMatchObject({
        eventId: created?.eventId,
        consumer: mesh.groupIds.payment,
        dlqTopic: `${Topics.orderEvents}.dlq`,
        attempts: 2,
      });
      expect(letter?.error).toContain("USD");
      expect(timeline.diagnosis.text).toBe(
        `OrderCreated is in ${Topics.orderEvents}.dlq: ${letter?.error}; fix, then npm run dlq -- replay ${created?.eventId}`,
      );
      expect(timeline.order.status).toBe("AWAITING_PAYMENT");

      const cli = await why([order.orderId]);
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout.trim().split("\n").at(-1)).toBe(`diagnosis: ${timeline.diagnosis.text}`);
    },
    TEST_MS,
  );

  it(
    "when the order, its id or the caller is wrong, then the route answers 404, 400 naming the field, 401 or 403, and the CLI exits 1",
    async () => {
      const unknown = await timelineOf(crypto.randomUUID());
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ code: "NOT_FOUND", traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });

      const malformed = await timelineOf("not an id!");
      expect(malformed.status).toBe(400);
      expect(malformed.body.code).toBe("INVALID_ARGUMENT");
      expect(malformed.body.message).toContain("order_id");

      const anonymous = await fetch(`${gm.baseUrl}/api/v1/orders/${crypto.randomUUID()}/timeline`);
      expect(anonymous.status).toBe(401);

      // A customer sees their own order's timeline and not another's: the order service's rule, as for GetOrder.
      const mesh = gm.mesh!;
      const mine = await createOrder(mesh, orderOf(await createProduct(mesh, 5), 1, { customerId: "why-alice" }));
      const alice = await gm.token({ subject: "why-alice", scopes: ["orders:write"] });
      const bob = await gm.token({ subject: "why-bob", scopes: ["orders:write"] });
      expect((await timelineOf(mine.orderId, alice)).status).toBe(200);
      const refused = await timelineOf(mine.orderId, bob);
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe("PERMISSION_DENIED");

      const missing = crypto.randomUUID();
      const cli = await why([missing]);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toContain(`no order ${missing}`);
    },
    TEST_MS,
  );

  it(
    "when the gateway does not answer, then the CLI exits 3 and says so",
    async () => {
      const closed = `http://127.0.0.1:${await freePort()}`;
      const cli = await why([crypto.randomUUID()], closed);
      expect(cli.code).toBe(3);
      expect(cli.stderr).toContain(`the gateway at ${closed} did not answer`);
    },
    TEST_MS,
  );

  it(
    "when payment's consumer is stopped, then a new order is waiting for payment and the diagnosis says the consumer is stopped",
    async () => {
      const mesh = gm.mesh!;
      const productId = await createProduct(mesh, 5);
      await mesh.kill("payment", "SIGTERM"); // a graceful stop: payment leaves its group, which is then empty

      const order = await createOrder(mesh, orderOf(productId, 1));

      // Right after the create, OrderCreated may still be on its way out of order's outbox (then the diagnosis says
      // so); once it is published, the stopped payment consumer is what the diagnosis names, and keeps naming.
      const timeline = await diagnosisOf(
        order.orderId,
        (t) => t.diagnosis.text.startsWith("waiting for payment"),
        "a diagnosis waiting for payment",
      );
      expect(timeline.diagnosis.text).toMatch(
        new RegExp(
          `^waiting for payment: its consumer ${mesh.groupIds.payment} is stopped \\(group \\w+, no members\\), \\d+ events? behind; start payment$`,
        ),
      );
      const position = timeline.events.find((event) => event.name === "OrderCreated")?.consumers.find((c) => c.service === "payment");
      expect(position).toMatchObject({ members: 0, passed: false });
      expect(position?.behind).toBeGreaterThanOrEqual(1);
    },
    TEST_MS,
  );
});
