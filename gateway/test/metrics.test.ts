/**
 * The gateway's /metrics: its own listener (METRICS_PORT, not the public port), and REST requests recorded under
 * their route template, never the raw path. The backends are closed ports: the route is resolved before any call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METRICS } from "#shared/metrics/index.js";
import { UNMATCHED_ROUTE } from "../src/http-metrics.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

let gm: GatewayMesh;

beforeAll(async () => {
  gm = await startGatewayMesh({ withoutMesh: true });
});

afterAll(async () => {
  await gm?.stop();
});

/** countOf reads the REST histogram's _count for one method, route and status from a scrape ("0" when absent). */
async function countOf(method: string, route: string, status: number): Promise<number> {
  const text = await (await fetch(gm.gateway.metricsUrl)).text();
  const wanted = [`method="${method}"`, `route="${route}"`, `status="${status}"`];
  const line = text.split("\n").find((l) => l.startsWith(`${METRICS.httpDuration}_count{`) && wanted.every((label) => l.includes(label)));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe("gateway metrics", () => {
  it("when /metrics is asked on the public port, then it is not there; the metrics port has it", async () => {
    const publicAnswer = await fetch(`${gm.baseUrl}/metrics`);
    const metricsAnswer = await fetch(gm.gateway.metricsUrl);

    expect(publicAnswer.status).toBe(404);
    expect(new URL(gm.gateway.metricsUrl).port).not.toBe(String(gm.port));
    expect(metricsAnswer.status).toBe(200);
    expect(await metricsAnswer.text()).toContain(`${METRICS.eventLoopLag}{process="gateway"}`);
  });

  it("when REST requests carry ids, then each is counted under its route template, not its path", async () => {
    const before = await countOf("GET", "/api/v1/orders/{order_id}", 401);

    // No token: 401 after routing, so the backends are never called.
    for (const id of ["order-a", "order-b", "order-c"]) expect((await fetch(`${gm.baseUrl}/api/v1/orders/${id}`)).status).toBe(401);

    expect(await countOf("GET", "/api/v1/orders/{order_id}", 401)).toBe(before + 3);
    const text = await (await fetch(gm.gateway.metricsUrl)).text();
    expect(text).not.toContain("order-a");
  });

  it("when an unversioned path is negotiated, then it is counted under the version's template that served it", async () => {
    const before = await countOf("GET", "/api/v2/orders/{order_id}", 401);

    expect((await fetch(`${gm.baseUrl}/api/orders/order-d`)).status).toBe(401);

    expect(await countOf("GET", "/api/v2/orders/{order_id}", 401)).toBe(before + 1);
  });

  it("when no route matches, then the request is counted as unmatched, not under its path", async () => {
    const before = await countOf("GET", UNMATCHED_ROUTE, 404);

    expect((await fetch(`${gm.baseUrl}/api/v1/no-such-thing/123`)).status).toBe(404);

    expect(await countOf("GET", UNMATCHED_ROUTE, 404)).toBe(before + 1);
    expect(await (await fetch(gm.gateway.metricsUrl)).text()).not.toContain("no-such-thing");
  });
});
