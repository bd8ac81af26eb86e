/**
 * JWT checks for writes, at the gateway, before any backend is called. The gateway runs without a mesh: a call that
 * passes auth reaches for its (absent) backend and answers UNAVAILABLE, which is how these tests see "accepted".
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
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
    const res = await cancelOrder(`Bearer ${await gm.token({ scopes: ["payments:write"] })}`);

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

  it("when a read is called without a token, then it is not refused by the gateway", async () => {
    const orders = createClient(OrderService, createGrpcTransport({ baseUrl: gm.baseUrl }));

    const error = await orders.getOrder({ orderId: "x" }).catch((e: unknown) => ConnectError.from(e));

    expect((error as ConnectError).code).toBe(Code.Unavailable);
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
