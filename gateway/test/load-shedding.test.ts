/**
 * Load shedding end to end: an order service whose CreateOrder admission limit is tiny, flooded through the gateway's
 * REST API. Against real processes and the real broker: the excess is 429 RESOURCE_EXHAUSTED with Retry-After (the
 * one error envelope, never a 5xx), and every order that was accepted still goes on to CONFIRMED.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { createProduct, uniqueId } from "../../test/system/fixtures.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";
import { call, expectEnvelope, type RestAnswer } from "./support/rest-client.js";

const FLOOD = 40;

let gm: GatewayMesh;
let token: string;
let productId: string;

beforeAll(async () => {
  gm = await startGatewayMesh({ mesh: { env: { order: { CREATE_MAX_IN_FLIGHT: "2" } } } });
  token = await gm.token();
  productId = await createProduct(gm.mesh!, 1_000, 1_250n);
}, 120_000);

afterAll(async () => {
  await gm?.stop();
});

it("when more orders arrive at once than the order service admits, then the excess is 429 with Retry-After and every accepted order is CONFIRMED", async () => {
  // Act
  const answers: RestAnswer[] = await Promise.all(
    Array.from({ length: FLOOD }, () =>
      call(gm.baseUrl, "POST", "/api/v2/orders", {
        token,
        body: { customerId: uniqueId("cust"), items: [{ productId, quantity: 1 }], payment: { cardToken: "tok_visa" } },
      }),
    ),
  );

  // Assert: only two outcomes, both of them explicit.
  const accepted = answers.filter((a) => a.status === 201);
  const shed = answers.filter((a) => a.status !== 201);
  expect(accepted.length).toBeGreaterThanOrEqual(1);
  expect(shed.length).toBeGreaterThanOrEqual(1);
  for (const answer of shed) {
    expectEnvelope(answer, 429, "RESOURCE_EXHAUSTED", /CreateOrder: 2 already in progress/);
    expect(answer.headers.get("retry-after")).toBe("1");
  }
  for (const answer of accepted) {
    const orderId = answer.body.order.orderId as string;
    await waitUntil(
      async () => (await call(gm.baseUrl, "GET", `/api/v2/orders/${orderId}`)).body?.order?.state?.status === "ORDER_STATUS_CONFIRMED",
      { timeoutMs: 30_000, intervalMs: 150, message: `order ${orderId} to be CONFIRMED` },
    );
  }
}, 90_000);
