/**
 * Who may see an order, end to end: the gateway verifies the token and passes its principal on (PRINCIPAL_HEADERS,
 * built from the token alone), the order service lets a customer reach only their own orders. Real mesh + gateway;
 * every path a client can take: REST (incl. the SSE watch), Connect, gRPC and gRPC-Web.
 */
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderService as OrderServiceV2 } from "#gen/shop/order/v2/order_service_pb.js";
import { PRINCIPAL_HEADERS } from "#shared/security/principal.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { createProduct } from "../../test/system/fixtures.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";
import { customer, placeOrder, type Customer } from "./support/customers.js";
import { call, expectEnvelope, readSse } from "./support/rest-client.js";

let gm: GatewayMesh;
let productId: string;
let alice: Customer;
let aliceOrder: string;

/** denials waits for `count` "permission denied" lines of the order service about `subject`, and returns them all. */
async function denials(subject: string, count: number): Promise<Record<string, unknown>[]> {
  // Captured lines are tagged `[order out] {...}`: the JSON starts at the first brace.
  const read = () =>
    gm
      .mesh!.process("order")
      .output()
      .filter((line) => line.includes('"permission denied"'))
      .map((line) => JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>)
      .filter((line) => line["subject"] === subject);
  await waitUntil(() => read().length >= count, { timeoutMs: 10_000, intervalMs: 50, message: `${count} denials of ${subject}` });
  return read();
}

beforeAll(async () => {
  gm = await startGatewayMesh();
  productId = await createProduct(gm.mesh!, 1_000, 1_250n);
  alice = await customer(gm, "alice");
  aliceOrder = await placeOrder(gm, alice, productId);
});

afterAll(async () => {
  await gm?.stop();
});

describe("over REST", () => {
  it("when bob reads, watches, lists or cancels alice's order, then each is 403 PERMISSION_DENIED and logged once", async () => {
    const bob = await customer(gm, "bob");

    const read = await call(gm.baseUrl, "GET", `/api/v2/orders/${aliceOrder}`, { token: bob.token });
    const watched = await call(gm.baseUrl, "GET", `/api/v1/orders/${aliceOrder}:watch`, { token: bob.token });
    const listed = await call(gm.baseUrl, "GET", `/api/v2/orders?customerId=${alice.subject}`, { token: bob.token });
    const cancelled = await call(gm.baseUrl, "POST", `/api/v2/orders/${aliceOrder}:cancel`, { body: {}, token: bob.token });

    for (const answer of [read, watched, listed, cancelled]) expectEnvelope(answer, 403, "PERMISSION_DENIED");
    expect(listed.body.message).toMatch(/^customer_id: /);
    const logged = await denials(bob.subject, 4);
    expect(logged.map((line) => line["method"]).sort()).toEqual([
      "shop.order.v1.OrderService/WatchOrder",
      "shop.order.v2.OrderService/CancelOrder",
      "shop.order.v2.OrderService/GetOrder",
      "shop.order.v2.OrderService/ListOrders",
    ]);
    expect(logged.filter((line) => line["orderId"] === aliceOrder)).toHaveLength(3);
    const after = await call(gm.baseUrl, "GET", `/api/v2/orders/${aliceOrder}`, { token: alice.token });
    expect(after.body.order.state.status).not.toBe("ORDER_STATUS_CANCELLED");
  });

  it("when alice reads, lists and watches her own order, then each succeeds; her list holds only her orders", async () => {
    const read = await call(gm.baseUrl, "GET", `/api/v2/orders/${aliceOrder}`, { token: alice.token });
    const listed = await call(gm.baseUrl, "GET", "/api/v2/orders", { token: alice.token });
    const res = await fetch(`${gm.baseUrl}/api/v2/orders/${aliceOrder}:watch`, { headers: { authorization: `Bearer ${alice.token}` } });
    const events = await readSse(res);

    expect(read.status).toBe(200);
    expect(read.body.order.customerId).toBe(alice.subject);
    expect(listed.body.orders.map((o: { customerId: string }) => o.customerId)).toEqual([alice.subject]);
    expect(res.status).toBe(200);
    expect(events.filter((e) => e.event === "message").at(-1)?.data.order.state.status).toBe("ORDER_STATUS_CONFIRMED");
  });

  it("when alice cancels her own order, then it is CANCELLED", async () => {
    const orderId = await placeOrder(gm, alice, productId);

    const cancelled = await call(gm.baseUrl, "POST", `/api/v2/orders/${orderId}:cancel`, { body: { reason: "mine" }, token: alice.token });

    expect(cancelled.status).toBe(200);
    expect(cancelled.body.order.state.status).toBe("ORDER_STATUS_CANCELLED");
  });

  it("when a customer asks for an order that does not exist, then 403 like another's; an admin gets 404", async () => {
    const bob = await customer(gm, "bob");
    const missing = crypto.randomUUID();

    const asCustomer = await call(gm.baseUrl, "GET", `/api/v2/orders/${missing}`, { token: bob.token });
    const asAdmin = await call(gm.baseUrl, "GET", `/api/v2/orders/${missing}`, { token: await gm.token() });

    expectEnvelope(asCustomer, 403, "PERMISSION_DENIED");
    expectEnvelope(asAdmin, 404, "NOT_FOUND");
  });

  it("when an admin reads and lists alice's orders and her payment, then each succeeds; alice may not read payments", async () => {
    const admin = await gm.token();
    await waitUntil(async () => (await call(gm.baseUrl, "GET", `/api/v2/orders/${aliceOrder}`, { token: admin })).body?.order?.paymentId, {
      timeoutMs: 30_000,
      intervalMs: 150,
      message: `order ${aliceOrder} to be paid`,
    });

    const read = await call(gm.baseUrl, "GET", `/api/v1/orders/${aliceOrder}`, { token: admin });
    const listed = await call(gm.baseUrl, "GET", `/api/v1/orders?customerId=${alice.subject}`, { token: admin });
    const payments = await call(gm.baseUrl, "GET", `/api/v1/payments?orderId=${aliceOrder}`, { token: admin });
    const paymentsAsAlice = await call(gm.baseUrl, "GET", `/api/v1/payments?orderId=${aliceOrder}`, { token: alice.token });

    expect(read.body.order.customerId).toBe(alice.subject);
    expect(listed.body.orders.map((o: { orderId: string }) => o.orderId)).toContain(aliceOrder);
    expect(payments.status).toBe(200);
    expect(payments.body.payments[0]).toMatchObject({ orderId: aliceOrder });
    expectEnvelope(paymentsAsAlice, 403, "PERMISSION_DENIED", /"admin"/);
  });

  it("when bob sends alice's subject (and the admin scope) as x-shop-* headers, then they are ignored: he is still bob", async () => {
    const bob = await customer(gm, "bob");
    const spoof = { [PRINCIPAL_HEADERS.subject]: alice.subject, [PRINCIPAL_HEADERS.scopes]: "admin orders:write" };

    const read = await call(gm.baseUrl, "GET", `/api/v2/orders/${aliceOrder}`, { token: bob.token, headers: spoof });
    const listed = await call(gm.baseUrl, "GET", "/api/v2/orders", { token: bob.token, headers: spoof });
    const anonymous = await call(gm.baseUrl, "GET", `/api/v2/orders/${aliceOrder}`, { headers: spoof });

    expectEnvelope(read, 403, "PERMISSION_DENIED");
    expect(listed.body.orders).toEqual([]); // bob's own (none), not alice's
    expectEnvelope(anonymous, 401, "UNAUTHENTICATED");
    expect(await denials(bob.subject, 1)).toEqual([expect.objectContaining({ subject: bob.subject, orderId: aliceOrder })]);
  });
});

const transports: [string, () => Transport][] = [
  ["Connect", () => createConnectTransport({ baseUrl: gm.baseUrl, httpVersion: "1.1" })],
  ["gRPC", () => createGrpcTransport({ baseUrl: gm.baseUrl })],
  ["gRPC-Web", () => createGrpcWebTransport({ baseUrl: gm.baseUrl, httpVersion: "1.1" })],
];

describe.each(transports)("over %s", (_name, makeTransport) => {
  const codeOf = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e).code,
    );
  const drain = async (stream: AsyncIterable<unknown>) => {
    for await (const _ of stream);
  };

  it("when bob reads, watches, lists or cancels alice's order, then each is PERMISSION_DENIED and logged once", async () => {
    const bob = await customer(gm, "bob");
    const transport = makeTransport();
    const v1 = createClient(OrderService, transport);
    const v2 = createClient(OrderServiceV2, transport);
    const headers = { authorization: `Bearer ${bob.token}` };

    const codes = await Promise.all([
      codeOf(v1.getOrder({ orderId: aliceOrder }, { headers })),
      codeOf(drain(v2.watchOrder({ orderId: aliceOrder }, { headers }))),
      codeOf(v1.listOrders({ customerId: alice.subject }, { headers })),
      codeOf(v2.cancelOrder({ orderId: aliceOrder }, { headers })),
    ]);

    expect(codes).toEqual([Code.PermissionDenied, Code.PermissionDenied, Code.PermissionDenied, Code.PermissionDenied]);
    const logged = await denials(bob.subject, 4);
    expect(logged.map((line) => line["method"]).sort()).toEqual([
      "shop.order.v1.OrderService/GetOrder",
      "shop.order.v1.OrderService/ListOrders",
      "shop.order.v2.OrderService/CancelOrder",
      "shop.order.v2.OrderService/WatchOrder",
    ]);
  });

  it("when alice reads, watches and lists her own order, then each succeeds", async () => {
    const transport = makeTransport();
    const v2 = createClient(OrderServiceV2, transport);
    const headers = { authorization: `Bearer ${alice.token}` };

    const { order } = await v2.getOrder({ orderId: aliceOrder }, { headers });
    const watched = [];
    for await (const message of v2.watchOrder({ orderId: aliceOrder }, { headers })) watched.push(message.order?.orderId);
    const { orders } = await v2.listOrders({}, { headers });

    expect(order?.customerId).toBe(alice.subject);
    expect(watched.at(-1)).toBe(aliceOrder);
    expect(orders.every((o) => o.customerId === alice.subject)).toBe(true);
    expect(orders.map((o) => o.orderId)).toContain(aliceOrder);
  });

  it("when bob sends alice's subject as x-shop-* metadata, then it is ignored and he is denied as bob", async () => {
    const bob = await customer(gm, "bob");
    const v1 = createClient(OrderService, makeTransport());
    const headers = {
      authorization: `Bearer ${bob.token}`,
      [PRINCIPAL_HEADERS.subject]: alice.subject,
      [PRINCIPAL_HEADERS.scopes]: "admin orders:write",
    };

    const code = await codeOf(v1.getOrder({ orderId: aliceOrder }, { headers }));
    const { orders } = await v1.listOrders({}, { headers });

    expect(code).toBe(Code.PermissionDenied);
    expect(orders).toEqual([]);
    expect(await denials(bob.subject, 1)).toEqual([expect.objectContaining({ subject: bob.subject, orderId: aliceOrder })]);
  });

  it("when an admin reads alice's order, then it succeeds", async () => {
    const v1 = createClient(OrderService, makeTransport());

    const { order } = await v1.getOrder({ orderId: aliceOrder }, { headers: { authorization: `Bearer ${await gm.token()}` } });

    expect(order?.customerId).toBe(alice.subject);
  });
});
