/** CORS: the origin allowlist, preflights, and the headers browsers may send and read. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

let gm: GatewayMesh;
const ALLOWED = "http://shop.example";

beforeAll(async () => {
  gm = await startGatewayMesh({ withoutMesh: true, env: { CORS_ORIGINS: `${ALLOWED},http://localhost:5173` } });
});

afterAll(async () => {
  await gm?.stop();
});

function preflight(
  origin: string,
  method = "POST",
  headers = "content-type,authorization,idempotency-key,traceparent,connect-protocol-version",
) {
  return fetch(`${gm.baseUrl}/shop.order.v1.OrderService/CreateOrder`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": headers },
  });
}

describe("CORS", () => {
  it("when an allowed origin sends a preflight, then 204 allows it with our methods and headers", async () => {
    const res = await preflight(ALLOWED);

    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    const allowedHeaders = res.headers.get("access-control-allow-headers")?.toLowerCase() ?? "";
    for (const header of ["content-type", "authorization", "idempotency-key", "traceparent", "connect-protocol-version", "x-grpc-web"]) {
      expect(allowedHeaders).toContain(header);
    }
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("when another origin sends a preflight, then 403 with the error envelope and no allow-origin", async () => {
    const res = await preflight("http://evil.example");

    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(await res.json()).toMatchObject({ code: "PERMISSION_DENIED", message: "origin http://evil.example is not allowed" });
  });

  it("when an allowed origin makes a request, then the answer allows it and exposes trace-id and the version headers", async () => {
    const res = await fetch(`${gm.baseUrl}/healthz`, { headers: { origin: ALLOWED } });

    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    const exposed = res.headers.get("access-control-expose-headers")?.toLowerCase() ?? "";
    for (const header of ["trace-id", "location", "deprecation", "sunset", "link", "grpc-status", "grpc-message"]) {
      expect(exposed).toContain(header);
    }
  });

  it("when another origin makes a request, then the answer carries no CORS headers (the browser hides it)", async () => {
    const res = await fetch(`${gm.baseUrl}/healthz`, { headers: { origin: "http://evil.example" } });

    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("when the page comes from the gateway itself, then its own origin is allowed without being listed", async () => {
    const res = await preflight(gm.baseUrl);

    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(gm.baseUrl);
  });
});
