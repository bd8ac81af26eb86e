/**
 * JWT checks at the gateway, before any backend is called: writes need a token with their scope, every order method
 * needs a token, payments need the admin scope, products stay open. The gateway runs without a mesh: a call that
 * passes auth reaches for its (absent) backend and answers UNAVAILABLE, which is how these tests see "accepted".
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderService as OrderServiceV2 } from "#gen/shop/order/v2/order_service_pb.js";
import { ADMIN_SCOPE } from "#shared/security/principal.js";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { signToken } from "../src/auth.js";
import { DEV_JWT_SECRET, loadConfig } from "../src/config.js";
import { ROOT } from "../../scripts/mesh/child.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

let gm: GatewayMesh;

beforeAll(async () => {
  gm = await startGatewayMesh({ withoutMesh: true });
});

afterAll(async () => {
  await gm?.stop();
});

/** cancelOrder calls a write (CancelOrder) over the Connect protocol with plain fetch, so status and headers show. */
async function cancelOrder(authorization?: string): Promise<Response> {
  return await fetch(`${gm.baseUrl}/shop.order.v1.OrderService/CancelOrder`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ orderId: "00000000-0000-4000-8000-000000000000" }),
  });
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

describe("writes need a valid bearer token", () => {
  it("when no token is sent, then 401 unauthenticated with WWW-Authenticate: Bearer", async () => {
    const res = await cancelOrder();

    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect(await res.json()).toMatchObject({ code: "unauthenticated", message: "missing bearer token" });
  });

  const rejected: [string, () => Promise<string>, RegExp][] = [
    ["expired", () => gm.token({ ttlSeconds: -60 }), /token expired/],
    [
      "for another audience",
      () => signToken({ ...gm.config.jwt, audience: "someone-else" }, { subject: "t", scopes: ["orders:write"] }),
      /audience/,
    ],
    ["from another issuer", () => signToken({ ...gm.config.jwt, issuer: "evil" }, { subject: "t", scopes: ["orders:write"] }), /issuer/],
    [
      "signed with another key",
      () => signToken({ ...gm.config.jwt, secret: "x".repeat(40) }, { subject: "t", scopes: ["orders:write"] }),
      /signature verification failed/,
    ],
    [
      "unsigned (alg none)",
      async () => {
        const now = Math.floor(Date.now() / 1000);
        const claims = { iss: gm.config.jwt.issuer, aud: gm.config.jwt.audience, sub: "t", exp: now + 600, scope: "orders:write" };
        return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims)}.`;
      },
      /algorithm not allowed|malformed/,
    ],
    [
      "signed with an algorithm off the allowlist (HS512)",
      () => signToken({ ...gm.config.jwt, algorithms: ["HS512"] }, { subject: "t", scopes: ["orders:write"] }),
      /algorithm not allowed/,
    ],
    ["not a JWT at all", async () => "not-a-jwt", /malformed token/],
  ];

  it.each(rejected)("when the token is %s, then 401 with the reason and an invalid_token challenge", async (_name, make, reason) => {
    const res = await cancelOrder(`Bearer ${await make()}`);

    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("unauthenticated");
    expect(body.message).toMatch(reason);
  });

  it("when a valid token lacks the write scope, then 403 permission_denied naming the scope", async () => {
    const res = await cancelOrder(`Bearer ${await gm.token({ scopes: ["inventory:write"] })}`);

    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: "permission_denied", message: expect.stringContaining('"orders:write"') });
  });

  it("when a valid token has the scope, then the call passes the gateway and goes on to the backend", async () => {
    const res = await cancelOrder(`Bearer ${await gm.token({ scopes: ["orders:write"] })}`);

    // No backend runs in this file: reaching for it is the proof the token was accepted.
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "unavailable" });
  });

  it("when a gRPC client calls a write without a token, then it gets UNAUTHENTICATED and a trace-id", async () => {
    const orders = createClient(OrderService, createGrpcTransport({ baseUrl: gm.baseUrl }));

    const error = await orders.cancelOrder({ orderId: "x" }).catch((e: unknown) => ConnectError.from(e));

    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unauthenticated);
    expect((error as ConnectError).metadata.get("trace-id")).toMatch(/^[0-9a-f]{32}$/);
  });

  it("when a product read is called without a token, then it is not refused by the gateway", async () => {
    const inventory = createClient(InventoryService, createGrpcTransport({ baseUrl: gm.baseUrl }));

    const error = await inventory.getProduct({ productId: "sku-espresso" }).catch((e: unknown) => ConnectError.from(e));
    const rest = await fetch(`${gm.baseUrl}/api/v1/products/sku-espresso`);

    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect(rest.status).toBe(503);
  });

  it("when a REST write has no token, then 401 with the error envelope", async () => {
    const res = await fetch(`${gm.baseUrl}/api/v1/orders/x:cancel`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });

    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect(await res.json()).toEqual({
      code: "UNAUTHENTICATED",
      message: "missing bearer token",
      traceId: res.headers.get("trace-id"),
      details: [],
    });
  });
});

/** ORDER_READS are every order read of both versions on every path: REST (incl. the SSE watch), Connect, gRPC. */
const ORDER_READS: [string, (authorization?: string) => Promise<{ status: number; challenge: string | null; message: string }>][] = [
  ["REST GET /api/v2/orders/{id}", (a) => restGet("/api/v2/orders/o-1", a)],
  ["REST GET /api/v1/orders?customerId=", (a) => restGet("/api/v1/orders?customerId=c-1", a)],
  ["REST SSE /api/v2/orders/{id}:watch", (a) => restGet("/api/v2/orders/o-1:watch", a)],
  ["Connect shop.order.v2.OrderService/GetOrder", (a) => connectCall("shop.order.v2.OrderService/GetOrder", a)],
  ["Connect shop.order.v1.OrderService/ListOrders", (a) => connectCall("shop.order.v1.OrderService/ListOrders", a)],
  ["gRPC shop.order.v1.OrderService/GetOrder", (a) => grpcCall((c, h) => c.v1.getOrder({ orderId: "o-1" }, h), a)],
  ["gRPC shop.order.v2.OrderService/WatchOrder", (a) => grpcCall((c, h) => drain(c.v2.watchOrder({ orderId: "o-1" }, h)), a)],
];

async function restGet(path: string, authorization?: string) {
  const res = await fetch(`${gm.baseUrl}${path}`, { headers: authorization ? { authorization } : {} });
  const body = (await res.json()) as { message: string };
  return { status: res.status, challenge: res.headers.get("www-authenticate"), message: body.message };
}

async function connectCall(path: string, authorization?: string) {
  const res = await fetch(`${gm.baseUrl}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ orderId: "o-1" }),
  });
  const body = (await res.json()) as { message: string };
  return { status: res.status, challenge: res.headers.get("www-authenticate"), message: body.message };
}

type GrpcClients = { v1: ReturnType<typeof createClient<typeof OrderService>>; v2: ReturnType<typeof createClient<typeof OrderServiceV2>> };

/** grpcCall runs a call over gRPC and reports it as an HTTP status (Connect's table), to compare with the others. */
async function grpcCall(
  run: (clients: GrpcClients, options: { headers: Record<string, string> }) => Promise<unknown>,
  authorization?: string,
) {
  const transport = createGrpcTransport({ baseUrl: gm.baseUrl });
  const clients = { v1: createClient(OrderService, transport), v2: createClient(OrderServiceV2, transport) };
  const error = await run(clients, { headers: authorization ? { authorization } : {} }).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  const statuses = new Map([
    [Code.Unauthenticated, 401],
    [Code.PermissionDenied, 403],
    [Code.Unavailable, 503],
  ]);
  const status = error === undefined ? 200 : (statuses.get(error.code) ?? 500);
  return { status, challenge: error?.metadata.get("www-authenticate") ?? null, message: error?.rawMessage ?? "" };
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream);
}

describe("every order method needs a valid bearer token, reads too", () => {
  it.each(ORDER_READS)("when %s is called without a token, then 401 with WWW-Authenticate: Bearer", async (_name, read) => {
    const answer = await read();

    expect(answer).toEqual({ status: 401, challenge: "Bearer", message: "missing bearer token" });
  });

  const forged: [string, () => Promise<string>][] = [
    ["unsigned (alg none)", async () => unsigned({ sub: "alice" })],
    ["expired", () => gm.token({ subject: "alice", scopes: [], ttlSeconds: -60 })],
    ["for another audience", () => signToken({ ...gm.config.jwt, audience: "someone-else" }, { subject: "alice", scopes: [] })],
    ["signed with another key", () => signToken({ ...gm.config.jwt, secret: "y".repeat(40) }, { subject: "alice", scopes: [] })],
  ];
  const cases = ORDER_READS.flatMap(([path, read]) => forged.map(([name, make]) => [path, name, read, make] as const));

  it.each(cases)("when %s is called with a token %s, then 401 invalid_token", async (_path, _name, read, make) => {
    const answer = await read(`Bearer ${await make()}`);

    expect({ status: answer.status, challenge: answer.challenge }).toEqual({ status: 401, challenge: 'Bearer error="invalid_token"' });
  });

  it.each(ORDER_READS)("when %s is called with a valid token without scopes, then it passes the gateway", async (_name, read) => {
    const answer = await read(`Bearer ${await gm.token({ subject: "alice", scopes: [] })}`);

    expect(answer.status).toBe(503); // the (absent) order service would decide whose order it is
  });
});

describe("payments are the shop's: the gateway asks for the admin scope", () => {
  it("when a customer token reads payments or refunds one, then 403 naming the admin scope, on REST and Connect", async () => {
    const customer = `Bearer ${await gm.token({ subject: "alice", scopes: ["orders:write"] })}`;

    const read = await restGet("/api/v1/payments?orderId=00000000-0000-4000-8000-000000000000", customer);
    const refund = await fetch(`${gm.baseUrl}/shop.payment.v1.PaymentService/RefundPayment`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: customer },
      body: JSON.stringify({ paymentId: "00000000-0000-4000-8000-000000000000" }),
    });

    expect(read.status).toBe(403);
    expect(read.message).toContain(`"${ADMIN_SCOPE}"`);
    expect(refund.status).toBe(403);
  });

  it("when a payment is read without a token, then 401", async () => {
    expect((await restGet("/api/v1/payments/00000000-0000-4000-8000-000000000000")).status).toBe(401);
  });

  it("when an admin token reads payments, then it passes the gateway", async () => {
    const admin = `Bearer ${await gm.token({ subject: "ops", scopes: [ADMIN_SCOPE] })}`;

    expect((await restGet("/api/v1/payments/00000000-0000-4000-8000-000000000000", admin)).status).toBe(503);
  });
});

function unsigned(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const all = { iss: gm.config.jwt.issuer, aud: gm.config.jwt.audience, exp: now + 600, ...claims };
  return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(all)}.`;
}

/** claimsOf reads a JWT's payload (no verification: the test only looks at what was issued). */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
}

describe("the dev token endpoint", () => {
  it("when AUTH_DEV_TOKENS is off (the default), then POST /auth/dev-token is not found", async () => {
    const res = await fetch(`${gm.baseUrl}/auth/dev-token`, { method: "POST" });

    expect(res.status).toBe(404);
  });

  it("when AUTH_DEV_TOKENS=true, then it issues a token that is accepted for order writes", async () => {
    const dev = await startGatewayMesh({ withoutMesh: true, env: { AUTH_DEV_TOKENS: "true" } });
    try {
      const issued = (await (await fetch(`${dev.baseUrl}/auth/dev-token`, { method: "POST" })).json()) as {
        token: string;
        scopes: string[];
      };
      const res = await fetch(`${dev.baseUrl}/shop.order.v1.OrderService/CancelOrder`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${issued.token}` },
        body: JSON.stringify({ orderId: "x" }),
      });

      expect(issued.scopes).toEqual(["orders:write"]);
      expect(res.status).toBe(503); // accepted; the backend is absent
    } finally {
      await dev.stop();
    }
  });

  describe("with AUTH_DEV_TOKENS=true", () => {
    let dev: GatewayMesh;
    beforeAll(async () => {
      dev = await startGatewayMesh({ withoutMesh: true, env: { AUTH_DEV_TOKENS: "true" } });
    });
    afterAll(async () => {
      await dev?.stop();
    });
    const issue = (body?: string) =>
      fetch(`${dev.baseUrl}/auth/dev-token`, {
        method: "POST",
        ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body }),
      });

    it("when a subject is asked for, then the token is that customer's", async () => {
      const res = await issue(JSON.stringify({ subject: "cust-42.a_b" }));
      const issued = (await res.json()) as { token: string; subject: string };

      expect(res.status).toBe(200);
      expect(issued.subject).toBe("cust-42.a_b");
      expect(claimsOf(issued.token)).toMatchObject({ sub: "cust-42.a_b", scope: "orders:write" });
    });

    it("when no body (or no subject) is sent, then the token is for a random demo subject", async () => {
      const none = (await (await issue()).json()) as { token: string; subject: string };
      const empty = (await (await issue("{}")).json()) as { token: string; subject: string };

      expect(none.subject).toMatch(/^demo-[0-9a-f]{8}$/);
      expect(claimsOf(none.token)["sub"]).toBe(none.subject);
      expect(empty.subject).toMatch(/^demo-[0-9a-f]{8}$/);
      expect(empty.subject).not.toBe(none.subject);
    });

    it.each([
      ["empty", '{"subject":""}'],
      ["65 characters", JSON.stringify({ subject: "x".repeat(65) })],
      ["with a space", '{"subject":"a b"}'],
      ["non-ASCII", '{"subject":"kundä"}'],
      ["with a slash", '{"subject":"a/b"}'],
      ["a number", '{"subject":42}'],
    ])("when the subject is %s, then 400 INVALID_ARGUMENT naming subject", async (_name, body) => {
      const res = await issue(body);
      const answer = (await res.json()) as { code: string; message: string };

      expect(res.status).toBe(400);
      expect(answer).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^subject: /) });
    });

    it("when the body is not JSON, then 400 INVALID_ARGUMENT", async () => {
      const res = await issue("{ nope");

      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("INVALID_ARGUMENT");
    });
  });
});

describe("a bad auth configuration stops the gateway at start-up", () => {
  it.each([
    [{ JWT_ALGORITHMS: "none" }, /"JWT_ALGORITHMS" lists "none"/],
    [{ JWT_ALGORITHMS: "RS256" }, /"JWT_ALGORITHMS" lists "RS256"/],
    [{ JWT_SECRET: "short" }, /"JWT_SECRET" must be at least 32 bytes/],
    [{ NODE_ENV: "production", JWT_SECRET: DEV_JWT_SECRET }, /"JWT_SECRET" must be set in production/],
    [{ ORDER_ADDR: "http://localhost:50051" }, /"ORDER_ADDR" must be host:port/],
    [{ CORS_ORIGINS: "http://shop.example/" }, /"CORS_ORIGINS" .* origin "http:\/\/shop.example"/],
  ])("when the environment has %o, then loading the config fails naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("when the gateway process starts with alg none allowed, then it exits 1 saying why", async () => {
    const run = promisify(execFile);
    const failure = (await run(process.execPath, ["--import", "tsx", path.join(ROOT, "gateway", "src", "main.ts")], {
      cwd: ROOT,
      env: { ...process.env, JWT_ALGORITHMS: "HS256,none", LOG_FORMAT: "json", PORT: "0" },
      timeout: 30_000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: number; stdout?: string } | undefined;

    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toContain('environment variable \\"JWT_ALGORITHMS\\" lists \\"none\\"');
  });
});
