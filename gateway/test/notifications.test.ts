/**
 * An order's emails through the gateway: NotificationService over REST (list, one by id, the SSE watch) and Connect,
 * with the order's ownership rule (the gateway reads the order with the caller's principal first): the customer sees
 * their own order's emails, another customer gets 403, an admin sees any, a bad id is a 400 naming the field. Real
 * mesh (with the notification service on the suite's RabbitMQ and Mailpit) + gateway.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderEmailKind } from "#gen/shop/notification/v1/notification_commands_pb.js";
import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { createProduct } from "../../test/system/fixtures.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";
import { customer, placeOrder, type Customer } from "./support/customers.js";
import { call, expectEnvelope, readSse } from "./support/rest-client.js";

let gm: GatewayMesh;
let productId: string;
let alice: Customer;
let aliceOrder: string;
let confirmationId: string;

/** emailsOf polls the REST list until the order has `count` emails, and returns them. */
async function emailsOf(orderId: string, owner: Customer, count: number): Promise<any[]> {
  let last: any[] = [];
  await waitUntil(
    async () => {
      const listed = await call(gm.baseUrl, "GET", `/api/v1/orders/${orderId}/notifications`, { token: owner.token });
      expect(listed.status, JSON.stringify(listed.body)).toBe(200);
      last = listed.body.notifications ?? [];
      return last.length >= count;
    },
    { timeoutMs: 30_000, intervalMs: 200, message: `${count} email(s) for ${orderId}` },
  );
  return last;
}

beforeAll(async () => {
  gm = await startGatewayMesh();
  productId = await createProduct(gm.mesh!, 1_000, 1_250n);
  alice = await customer(gm, "alice");
  aliceOrder = await placeOrder(gm, alice, productId);
  const [confirmation] = await emailsOf(aliceOrder, alice, 1);
  confirmationId = confirmation.notificationId;
});

afterAll(async () => {
  await gm?.stop();
});

describe("over REST", () => {
  it("when alice lists her order's emails and reads one, then she gets the confirmation sent to her", async () => {
    const listed = await call(gm.baseUrl, "GET", `/api/v1/orders/${aliceOrder}/notifications`, { token: alice.token });
    const one = await call(gm.baseUrl, "GET", `/api/v1/notifications/${confirmationId}`, { token: alice.token });

    expect(listed.status).toBe(200);
    expect(listed.body.notifications).toHaveLength(1);
    expect(listed.body.notifications[0]).toMatchObject({
      orderId: aliceOrder,
      customerId: alice.subject,
      kind: "ORDER_EMAIL_KIND_CONFIRMED",
    });
    expect(one.status, JSON.stringify(one.body)).toBe(200);
    expect(one.body.notification).toMatchObject({ notificationId: confirmationId, orderId: aliceOrder });
  });

  it("when alice watches her order's emails, then the stream sends the confirmation already sent", async () => {
    const res = await fetch(`${gm.baseUrl}/api/v1/orders/${aliceOrder}/notifications:watch`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = await readSse(res, (event) => event.event === "message");

    expect(events.at(-1)?.data.notification.notificationId).toBe(confirmationId);
  });

  it("when bob lists, watches or reads alice's emails, then each is 403 PERMISSION_DENIED", async () => {
    const bob = await customer(gm, "bob");

    const listed = await call(gm.baseUrl, "GET", `/api/v1/orders/${aliceOrder}/notifications`, { token: bob.token });
    const watched = await call(gm.baseUrl, "GET", `/api/v1/orders/${aliceOrder}/notifications:watch`, { token: bob.token });
    const one = await call(gm.baseUrl, "GET", `/api/v1/notifications/${confirmationId}`, { token: bob.token });

    for (const answer of [listed, watched, one]) expectEnvelope(answer, 403, "PERMISSION_DENIED");
  });

  it("when an admin lists alice's emails, then they are there", async () => {
    const listed = await call(gm.baseUrl, "GET", `/api/v1/orders/${aliceOrder}/notifications`, { token: await gm.token() });

    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.notifications.map((n: { notificationId: string }) => n.notificationId)).toEqual([confirmationId]);
  });

  it("when the order id is not a UUID, then 400 INVALID_ARGUMENT names order_id; with no token, 401", async () => {
    const bad = await call(gm.baseUrl, "GET", "/api/v1/orders/not-a-uuid/notifications", { token: alice.token });
    const anonymous = await call(gm.baseUrl, "GET", `/api/v1/orders/${aliceOrder}/notifications`);

    expectEnvelope(bad, 400, "INVALID_ARGUMENT", /^order_id: must be a UUID/);
    expectEnvelope(anonymous, 401, "UNAUTHENTICATED");
  });
});

describe("over Connect", () => {
  const client = () => createClient(NotificationService, createConnectTransport({ baseUrl: gm.baseUrl, httpVersion: "1.1" }));

  it("when alice watches her order and then cancels it, then the cancellation email arrives on the open stream", async () => {
    const order = await placeOrder(gm, alice, productId);
    await emailsOf(order, alice, 1);
    const controller = new AbortController();
    const seen: OrderEmailKind[] = [];
    const watching = (async () => {
      const stream = client().watchNotifications(
        { orderId: order },
        { signal: controller.signal, headers: { authorization: `Bearer ${alice.token}` } },
      );
      for await (const { notification } of stream) {
        if (notification) seen.push(notification.kind);
        if (seen.length === 2) return;
      }
    })();
    await waitUntil(() => seen.length === 1, { timeoutMs: 10_000, intervalMs: 50, message: "the confirmation on the stream" });
    const cancelled = await call(gm.baseUrl, "POST", `/api/v2/orders/${order}:cancel`, {
      body: { reason: "changed my mind" },
      token: alice.token,
    });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    await watching;
    controller.abort();

    expect(seen).toEqual([OrderEmailKind.CONFIRMED, OrderEmailKind.CANCELLED]);
  });

  it("when bob lists alice's emails, then PERMISSION_DENIED; a bad order id is INVALID_ARGUMENT naming order_id", async () => {
    const bob = await customer(gm, "bob");
    const headers = { authorization: `Bearer ${bob.token}` };

    const denied = await client()
      .listNotifications({ orderId: aliceOrder }, { headers })
      .catch((e: unknown) => ConnectError.from(e));
    const bad = await client()
      .listNotifications({ orderId: "42" }, { headers })
      .catch((e: unknown) => ConnectError.from(e));

    expect(denied).toBeInstanceOf(ConnectError);
    expect((denied as ConnectError).code).toBe(Code.PermissionDenied);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toMatch(/^order_id: must be a UUID/);
  });
});
