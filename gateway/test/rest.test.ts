/**
 * The REST surface against a real mesh + gateway: every route's status, headers and body; the error envelope on
 * every failure path; auth on writes; Server-Sent Events for server streams. The token is an operator's (admin
 * scope): whose order is whose is ownership.test.ts's subject.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProduct, uniqueId } from "../../test/system/fixtures.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";
import { call, expectEnvelope, readSse, type RestAnswer } from "./support/rest-client.js";

let gm: GatewayMesh;
let token: string;
let productId: string;

beforeAll(async () => {
  gm = await startGatewayMesh();
  token = await gm.token();
  productId = await createProduct(gm.mesh!, 1_000, 1_250n);
});

afterAll(async () => {
  await gm?.stop();
});

const v2Order = (customerId = uniqueId("cust"), cardToken = "tok_visa") => ({
  customerId,
  items: [{ productId, quantity: 2 }],
  payment: { cardToken },
});

async function createV2(body: unknown = v2Order(), headers: Record<string, string> = {}): Promise<RestAnswer> {
  return await call(gm.baseUrl, "POST", "/api/v2/orders", { body, token, headers });
}

async function waitForV2Status(orderId: string, status: string): Promise<RestAnswer> {
  return await waitUntil(
    async () => {
      const answer = await call(gm.baseUrl, "GET", `/api/v2/orders/${orderId}`, { token });
      return answer.body?.order?.state?.status === status ? answer : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 150, message: `order ${orderId} to be ${status}` },
  );
}

describe("orders v2", () => {
  it("when an order is created, then the answer is 201 with a Location of the new order and no deprecation", async () => {
    const created = await createV2();

    expect(created.status).toBe(201);
    const order = created.body.order;
    expect(created.headers.get("location")).toBe(`/api/v2/orders/${order.orderId}`);
    expect(created.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(created.headers.get("trace-id")).toMatch(/^[0-9a-f]{32}$/);
    expect(created.headers.get("deprecation")).toBeNull();
    expect(order.items).toEqual([expect.objectContaining({ productId, quantity: 2 })]);
    expect(order.total).toEqual({ currencyCode: "EUR", amountMinor: "2500" });

    const fetched = await call(gm.baseUrl, "GET", created.headers.get("location")!, { token });
    expect(fetched.status).toBe(200);
    expect(fetched.body.order.orderId).toBe(order.orderId);
  });

  it("when the same Idempotency-Key is sent twice, then the same order comes back", async () => {
    const key = crypto.randomUUID();
    const body = v2Order();

    const first = await createV2(body, { "idempotency-key": key });
    const second = await createV2(body, { "idempotency-key": key });

    expect(first.status).toBe(201);
    expect(second.body.order.orderId).toBe(first.body.order.orderId);
  });

  it("when orders are listed with a filter and a page size, then pages follow nextPageToken", async () => {
    const customerId = uniqueId("cust");
    const a = await createV2(v2Order(customerId));
    const b = await createV2(v2Order(customerId));

    const page1 = await call(gm.baseUrl, "GET", `/api/v2/orders?customerId=${customerId}&pageSize=1`, { token });
    const page2 = await call(
      gm.baseUrl,
      "GET",
      `/api/v2/orders?customer_id=${customerId}&page_size=1&pageToken=${encodeURIComponent(page1.body.nextPageToken)}`,
      { token },
    );

    expect(page1.status).toBe(200);
    expect(page1.body.orders).toHaveLength(1);
    expect(page1.body.nextPageToken).not.toBe("");
    const ids = [page1.body.orders[0].orderId, page2.body.orders[0].orderId];
    expect(ids.sort()).toEqual([a.body.order.orderId, b.body.order.orderId].sort());
  });

  it("when an order is cancelled with the custom verb, then it is CANCELLED", async () => {
    const created = await createV2(v2Order(uniqueId("cust"), "tok_visa"));
    const orderId = created.body.order.orderId;

    const cancelled = await call(gm.baseUrl, "POST", `/api/v2/orders/${orderId}:cancel`, { body: { reason: "changed my mind" }, token });

    expect(cancelled.status).toBe(200);
    expect(cancelled.body.order.state.status).toBe("ORDER_STATUS_CANCELLED");
  });

  it("when an order's status stream is watched, then its changes arrive as SSE until CONFIRMED and the stream ends", async () => {
    const created = await createV2();
    const orderId = created.body.order.orderId;

    const res = await fetch(`${gm.baseUrl}/api/v2/orders/${orderId}:watch`, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${token}` },
    });
    const events = await readSse(res);

    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const statuses = events.filter((e) => e.event === "message").map((e) => e.data.order.state.status);
    // The first event is the state when the watch began (payment may already be done); the last is CONFIRMED.
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.at(-1)).toBe("ORDER_STATUS_CONFIRMED");
    expect(events.filter((e) => e.event === "error")).toEqual([]);
    expect(events.at(-1)?.event).toBe("end");
  });

  it("when an unknown order is watched, then the answer is a 404 envelope, not a stream", async () => {
    const answer = await call(gm.baseUrl, "GET", `/api/v2/orders/${crypto.randomUUID()}:watch`, { token });

    expectEnvelope(answer, 404, "NOT_FOUND");
  });
});

describe("orders v1 (deprecated)", () => {
  it("when a v1 order is created and read, then the answers carry Deprecation, Sunset and a successor Link", async () => {
    const created = await call(gm.baseUrl, "POST", "/api/v1/orders", {
      body: { customerId: uniqueId("cust"), lines: [{ productId, quantity: 1 }], cardToken: "tok_visa" },
      token,
    });
    const orderId = created.body.order.orderId;
    const fetched = await call(gm.baseUrl, "GET", `/api/v1/orders/${orderId}`, { token });

    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/api/v1/orders/${orderId}`);
    for (const answer of [created, fetched]) {
      expect(answer.headers.get("deprecation")).toMatch(/^@\d+$/);
      expect(answer.headers.get("sunset")).toBe("Wed, 30 Jun 2027 23:59:59 GMT");
    }
    expect(fetched.headers.get("link")).toContain(`</api/v2/orders/${orderId}>; rel="successor-version"`);
    expect(fetched.body.order.lines[0].productId).toBe(productId);
    expect(fetched.body.order.status).toMatch(/^ORDER_STATUS_/);
  });

  it("when v1 orders are listed by status with a short enum name, then only that status comes back", async () => {
    const customerId = uniqueId("cust");
    const created = await createV2(v2Order(customerId));
    await waitForV2Status(created.body.order.orderId, "ORDER_STATUS_CONFIRMED");

    const confirmed = await call(gm.baseUrl, "GET", `/api/v1/orders?customerId=${customerId}&status=CONFIRMED`, { token });
    const cancelled = await call(gm.baseUrl, "GET", `/api/v1/orders?customerId=${customerId}&status=ORDER_STATUS_CANCELLED`, { token });

    expect(confirmed.body.orders.map((o: { orderId: string }) => o.orderId)).toEqual([created.body.order.orderId]);
    expect(cancelled.body.orders).toEqual([]);
  });

  it("when a v1 order is watched, then the SSE stream ends at CONFIRMED with deprecation headers", async () => {
    const created = await createV2();
    const res = await fetch(`${gm.baseUrl}/api/v1/orders/${created.body.order.orderId}:watch`, {
      headers: { authorization: `Bearer ${token}` },
    });

    const events = await readSse(res);

    expect(res.headers.get("deprecation")).toMatch(/^@\d+$/);
    expect(events.filter((e) => e.event === "message").at(-1)?.data.order.status).toBe("ORDER_STATUS_CONFIRMED");
  });

  it("when a v1 order is cancelled, then it is CANCELLED", async () => {
    const created = await createV2();
    const cancelled = await call(gm.baseUrl, "POST", `/api/v1/orders/${created.body.order.orderId}:cancel`, { body: {}, token });

    expect(cancelled.status).toBe(200);
    expect(cancelled.body.order.status).toBe("ORDER_STATUS_CANCELLED");
  });
});

describe("payments, products and reservations", () => {
  it("when an order is paid, then its payment is listed, readable and refundable", async () => {
    const created = await createV2();
    const orderId = created.body.order.orderId;
    await waitForV2Status(orderId, "ORDER_STATUS_CONFIRMED");

    // The payment is found by its order (not by order.paymentId): when other meshes share the broker, a foreign
    // payment service may also charge this order's event, and its PaymentAuthorized may be the one the order saw.
    const listed = await call(gm.baseUrl, "GET", `/api/v1/payments?orderId=${orderId}`, { token });
    const paymentId = listed.body.payments[0]?.paymentId;
    const fetched = await call(gm.baseUrl, "GET", `/api/v1/payments/${paymentId}`, { token });
    const refunded = await call(gm.baseUrl, "POST", `/api/v1/payments/${paymentId}:refund`, { body: { reason: "test" }, token });

    expect(listed.status).toBe(200);
    expect(listed.body.payments).toHaveLength(1);
    expect(fetched.status).toBe(200);
    expect(fetched.body.payment).toMatchObject({ paymentId, orderId, status: "PAYMENT_STATUS_AUTHORIZED" });
    expect(refunded.status).toBe(200);
    expect(refunded.body.payment.status).toBe("PAYMENT_STATUS_REFUNDED");
    expect(listed.headers.get("deprecation")).toBeNull();
  });

  it("when products are listed and read, then they carry price and stock", async () => {
    const listed = await call(gm.baseUrl, "GET", "/api/v1/products?pageSize=200");
    const fetched = await call(gm.baseUrl, "GET", `/api/v1/products/${productId}`);
    const missing = await call(gm.baseUrl, "GET", "/api/v1/products/sku-does-not-exist");

    expect(listed.status).toBe(200);
    expect(Array.isArray(listed.body.products)).toBe(true);
    expect(fetched.body.product).toMatchObject({ productId, price: { currencyCode: "EUR", amountMinor: "1250" } });
    expect(fetched.body.product.stock.availableQuantity).toBeGreaterThan(0);
    expect(missing.status).toBe(404);
  });

  it("when stock is watched, then the product's level arrives as an SSE event", async () => {
    const controller = new AbortController();
    const res = await fetch(`${gm.baseUrl}/api/v1/stock:watch?productIds=${productId}`, { signal: controller.signal });

    const events = await readSse(res, (e) => e.data?.stock?.productId === productId);
    controller.abort();

    expect(res.status).toBe(200);
    expect(events.at(-1)?.data.stock).toMatchObject({ productId });
  });

  it("when an order's reservation is read, then it answers with it; a release through the gateway is 403: only the order service releases", async () => {
    const created = await createV2(v2Order(uniqueId("cust"), "tok_decline_card"));
    const orderId = created.body.order.orderId;

    const fetched = await call(gm.baseUrl, "GET", `/api/v1/reservations/${orderId}`);
    const released = await call(gm.baseUrl, "POST", `/api/v1/reservations/${orderId}:release`, { body: { reason: "test" }, token });

    expect(fetched.status).toBe(200);
    expect(fetched.body.reservation.orderId).toBe(orderId);
    expectEnvelope(released, 403, "PERMISSION_DENIED", /may not call shop\.inventory\.v1\.InventoryService\/ReleaseReservation/);
  });
});

describe("failures answer with the one error envelope", () => {
  it("when the JSON is malformed, then 400 names the body", async () => {
    const answer = await call(gm.baseUrl, "POST", "/api/v2/orders", { rawBody: "{ nope", token });

    expectEnvelope(answer, 400, "INVALID_ARGUMENT", /^body: malformed JSON/);
  });

  it("when a field has the wrong type or is unknown, then 400 names the field", async () => {
    const wrongType = await createV2({ ...v2Order(), items: [{ productId, quantity: "two" }] });
    const unknown = await createV2({ ...v2Order(), colour: "red" });
    const badQuery = await call(gm.baseUrl, "GET", "/api/v2/orders?pageSize=lots", { token });

    expectEnvelope(wrongType, 400, "INVALID_ARGUMENT", /^items\[0\]\.quantity: /);
    expectEnvelope(unknown, 400, "INVALID_ARGUMENT", /^colour: unknown field/);
    expectEnvelope(badQuery, 400, "INVALID_ARGUMENT", /^pageSize: /);
  });

  it("when the backend rejects the input, then its INVALID_ARGUMENT comes through as 400 naming the field", async () => {
    const answer = await createV2({ ...v2Order(), items: [{ productId, quantity: 0 }] });

    expectEnvelope(answer, 400, "INVALID_ARGUMENT", /quantity/);
  });

  it("when the route does not exist, then 404; when the method is wrong, then 405 with Allow", async () => {
    const missing = await call(gm.baseUrl, "GET", "/api/v2/widgets");
    const wrongMethod = await call(gm.baseUrl, "DELETE", `/api/v2/orders/${crypto.randomUUID()}`, { token });
    const unknownVerb = await call(gm.baseUrl, "POST", `/api/v2/orders/x:explode`, { token });

    expectEnvelope(missing, 404, "NOT_FOUND", /no API route/);
    expectEnvelope(wrongMethod, 405, "UNIMPLEMENTED");
    expect(wrongMethod.headers.get("allow")).toBe("GET");
    expectEnvelope(unknownVerb, 404, "NOT_FOUND");
  });

  it("when a write has no token, a bad token or lacks the scope, then 401 or 403 and nothing is written", async () => {
    const customerId = uniqueId("cust");
    const none = await call(gm.baseUrl, "POST", "/api/v2/orders", { body: v2Order(customerId) });
    const bad = await call(gm.baseUrl, "POST", "/api/v2/orders", { body: v2Order(customerId), token: "not.a.jwt" });
    const weak = await call(gm.baseUrl, "POST", "/api/v2/orders", {
      body: v2Order(customerId),
      token: await gm.token({ scopes: ["inventory:write"] }),
    });
    const listed = await call(gm.baseUrl, "GET", `/api/v2/orders?customerId=${customerId}`, { token });

    expectEnvelope(none, 401, "UNAUTHENTICATED");
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expectEnvelope(bad, 401, "UNAUTHENTICATED");
    expectEnvelope(weak, 403, "PERMISSION_DENIED", /orders:write/);
    expect(listed.body.orders).toEqual([]);
  });

  it("when a body is not JSON, then 415", async () => {
    const answer = await call(gm.baseUrl, "POST", "/api/v2/orders", {
      rawBody: "customerId=x",
      token,
      headers: { "content-type": "text/plain" },
    });

    expectEnvelope(answer, 415, "INVALID_ARGUMENT", /Content-Type/);
  });

  it("when the caller sends a traceparent, then the envelope's traceId is that trace", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const answer = await call(gm.baseUrl, "GET", "/api/v2/orders/nope-1", {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      token,
    });

    expectEnvelope(answer, 404, "NOT_FOUND");
    expect(answer.body.traceId).toBe(traceId);
  });
});
