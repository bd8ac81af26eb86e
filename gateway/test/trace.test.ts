/**
 * Trace context: the gateway takes the trace id from an incoming W3C `traceparent` (or starts a trace), answers
 * with it in `trace-id`, logs it on every line about the request, and forwards it so the service logs it too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

let gm: GatewayMesh;

beforeAll(async () => {
  gm = await startGatewayMesh();
});

afterAll(async () => {
  await gm?.stop();
});

function newTraceId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

function getProduct(productId: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gm.baseUrl}/shop.inventory.v1.InventoryService/GetProduct`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ productId }),
  });
}

describe("trace ids", () => {
  it("when a request carries a traceparent, then its trace id is echoed, logged by the gateway and by the service", async () => {
    const traceId = newTraceId();

    const res = await getProduct("sku-traced-missing", { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });

    expect(res.status).toBe(404);
    expect(res.headers.get("trace-id")).toBe(traceId);
    const gatewayLines = await waitUntil(
      () => {
        const lines = gm.logs().filter((line) => line["traceId"] === traceId);
        return lines.some((line) => line["msg"] === "request finished") ? lines : undefined;
      },
      { message: "the gateway's request line" },
    );
    expect(gatewayLines.map((line) => line["msg"])).toEqual(expect.arrayContaining(["rpc failed", "request finished"]));
    expect(gm.logs().filter((line) => JSON.stringify(line).includes("sku-traced-missing") && line["traceId"] !== traceId)).toEqual([]);
    // The inventory service logs a failed RPC at info, with the traceId read from the forwarded traceparent.
    await waitUntil(() => gm.mesh!.logs("inventory", 200).includes(traceId), {
      message: `inventory's log line with traceId ${traceId}`,
      describe: () => gm.mesh!.logs("inventory", 5),
    });
  });

  it("when a REST request carries a traceparent, then the error envelope names the same trace id", async () => {
    const traceId = newTraceId();

    const res = await fetch(`${gm.baseUrl}/api/v1/products/sku-traced-rest`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });

    expect(res.status).toBe(404);
    expect(res.headers.get("trace-id")).toBe(traceId);
    expect(await res.json()).toMatchObject({ code: "NOT_FOUND", traceId });
  });

  it("when a request has no traceparent, then each request gets a fresh trace id", async () => {
    const first = await getProduct("sku-espresso");
    const second = await getProduct("sku-espresso");

    expect(first.headers.get("trace-id")).toMatch(/^[0-9a-f]{32}$/);
    expect(second.headers.get("trace-id")).toMatch(/^[0-9a-f]{32}$/);
    expect(first.headers.get("trace-id")).not.toBe(second.headers.get("trace-id"));
  });

  it.each([
    ["an all-zero trace id", `00-${"0".repeat(32)}-00f067aa0ba902b7-01`],
    ["upper-case hex", `00-${newTraceId().toUpperCase()}-00f067aa0ba902b7-01`],
    ["version ff", `ff-${newTraceId()}-00f067aa0ba902b7-01`],
    ["garbage", "not-a-traceparent"],
  ])("when the traceparent is invalid (%s), then it is ignored and a new trace starts", async (_name, traceparent) => {
    const res = await getProduct("sku-espresso", { traceparent });

    expect(res.status).toBe(200);
    const traceId = res.headers.get("trace-id");
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceparent).not.toContain(traceId);
  });
});
