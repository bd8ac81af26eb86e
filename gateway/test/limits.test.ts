/**
 * The request body limit: 413 over every HTTP surface (REST with the envelope, Connect with its error body), and
 * RESOURCE_EXHAUSTED in the protocol for gRPC and gRPC-Web, whose HTTP status is always 200.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

const LIMIT = 2048;
let gm: GatewayMesh;

beforeAll(async () => {
  gm = await startGatewayMesh({ withoutMesh: true, env: { BODY_LIMIT_BYTES: String(LIMIT) } });
});

afterAll(async () => {
  await gm?.stop();
});

const oversized = { customerId: "c".repeat(LIMIT * 2), cardToken: "tok_visa", lines: [{ productId: "sku", quantity: 1 }] };

describe("request body limit", () => {
  it("when a REST body declares more than the limit, then 413 with the envelope, before auth or parsing", async () => {
    const res = await fetch(`${gm.baseUrl}/api/v1/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(oversized),
    });

    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      code: "RESOURCE_EXHAUSTED",
      message: `request body exceeds the limit of ${LIMIT} bytes`,
      traceId: res.headers.get("trace-id"),
      details: [],
    });
  });

  it("when a REST body is streamed without a length and passes the limit, then 413 too", async () => {
    const token = await gm.token();
    const text = JSON.stringify(oversized);
    const body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < text.length; i += 512) controller.enqueue(new TextEncoder().encode(text.slice(i, i + 512)));
        controller.close();
      },
    });

    const res = await fetch(`${gm.baseUrl}/api/v1/orders`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body,
      duplex: "half",
    } as RequestInit);

    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "RESOURCE_EXHAUSTED" });
  });

  it.each([
    ["Connect", () => createConnectTransport({ baseUrl: gm.baseUrl, httpVersion: "1.1" })],
    ["gRPC", () => createGrpcTransport({ baseUrl: gm.baseUrl })],
  ])("when a %s request message is over the limit, then RESOURCE_EXHAUSTED", async (_name, makeTransport) => {
    const orders = createClient(OrderService, makeTransport());
    const token = await gm.token();

    const error = await orders
      .createOrder(oversized, { headers: { authorization: `Bearer ${token}` } })
      .catch((e: unknown) => ConnectError.from(e));

    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
  });

  it.each([
    ["JSON", "application/json", () => new TextEncoder().encode(JSON.stringify(oversized))],
    ["binary", "application/proto", () => new Uint8Array(LIMIT * 2)],
  ])("when a Connect %s body is over the limit, then 413 as over REST, with the Connect error body", async (_name, type, body) => {
    const res = await fetch(`${gm.baseUrl}/shop.order.v1.OrderService/CreateOrder`, {
      method: "POST",
      headers: { "content-type": type, "connect-protocol-version": "1" },
      body: body(),
    });

    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ code: "resource_exhausted", message: `request body exceeds the limit of ${LIMIT} bytes` });
  });

  it("when a Connect unary body is streamed without a length and passes the limit, then 413 too", async () => {
    const text = JSON.stringify(oversized);
    const body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < text.length; i += 512) controller.enqueue(new TextEncoder().encode(text.slice(i, i + 512)));
        controller.close();
      },
    });

    const res = await fetch(`${gm.baseUrl}/shop.order.v1.OrderService/CreateOrder`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);

    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "resource_exhausted" });
  });

  it("when a body is within the limit, then it is not refused for its size", async () => {
    const res = await fetch(`${gm.baseUrl}/shop.order.v1.OrderService/GetOrder`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await gm.token()}` },
      body: JSON.stringify({ orderId: "x" }),
    });

    expect(res.status).toBe(503); // went on to the (absent) backend
  });
});

describe("request body encoding", () => {
  it("when a REST JSON body is not valid UTF-8, then 400 INVALID_ARGUMENT naming the byte, nothing forwarded", async () => {
    const token = await gm.token();
    const head = Buffer.from('{"customerId":"c-');
    const body = Buffer.concat([
      head,
      Buffer.from([0xc3, 0x28]),
      Buffer.from('","cardToken":"tok_visa","lines":[{"productId":"sku","quantity":1}]}'),
    ]);

    const res = await fetch(`${gm.baseUrl}/api/v1/orders`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body,
    });

    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: "INVALID_ARGUMENT",
      message: `request body is not valid UTF-8 (byte ${head.length})`,
      traceId: res.headers.get("trace-id"),
    });
  });
});

describe("Connect JSON body encoding", () => {
  it("when a Connect JSON request is not valid UTF-8, then 400 invalid_argument, not a silently replaced string", async () => {
    const body = Buffer.concat([Buffer.from('{"orderId":"o-'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);

    const res = await fetch(`${gm.baseUrl}/shop.order.v1.OrderService/GetOrder`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await gm.token()}` },
      body,
    });

    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/utf-8/i) });
  });
});
