/**
 * The gateway under overload, against real processes and the real broker. Load shedding: an order service whose
 * CreateOrder admission limit is tiny, flooded through the REST API, answers the excess 429 RESOURCE_EXHAUSTED with
 * Retry-After (the one error envelope, never a 5xx), and every accepted order still goes on to CONFIRMED. Stream
 * resets: gRPC clients that stop watching must not trip Node's HTTP/2 rapid-reset guard on the gateway's listener.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { createClient } from "#shared/grpc/client.js";
import { createProduct, uniqueId } from "../../test/system/fixtures.js";
import { stateWithin, waitUntil } from "../../scripts/mesh/wait.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";
import { call, expectEnvelope, type RestAnswer } from "./support/rest-client.js";

const FLOOD = 40;
/** CANCELS is above Node's default reset burst (1,000), at a rate far above its default refill (33/s). */
const CANCELS = 1_500;

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
      async () =>
        (await call(gm.baseUrl, "GET", `/api/v2/orders/${orderId}`, { token })).body?.order?.state?.status === "ORDER_STATUS_CONFIRMED",
      { timeoutMs: 30_000, intervalMs: 150, message: `order ${orderId} to be CONFIRMED` },
    );
  }
}, 90_000);

it("when a gRPC client cancels 1,500 streams on one connection to the gateway, then its other streams keep working", async () => {
  // Arrange: one long-lived watch through the gateway, then many short ones, each left after its first message.
  const inventory = createClient(InventoryService, `127.0.0.1:${gm.port}`);
  const leave = new AbortController();
  // Its own deadline, longer than the test: the gateway's default one for callers that set none is 10 s.
  const watch = { signal: leave.signal, timeoutMs: 110_000 };
  const longLived = inventory.watchStock({ productIds: [productId] }, watch)[Symbol.asyncIterator]();
  try {
    expect((await longLived.next()).value).toMatchObject({ stock: { productId } });

    // Act
    for (let i = 0; i < CANCELS; i++) {
      for await (const _ of inventory.watchStock({ productIds: [productId] }, { timeoutMs: 10_000 })) break;
    }

    // Assert: the connection survived the resets (Node's default guard closes it after 1,000).
    for await (const change of inventory.watchStock({ productIds: [productId] }, { timeoutMs: 10_000 })) {
      expect(change.stock?.productId).toBe(productId);
      break;
    }
    const next = longLived.next();
    expect(await stateWithin(next, 300)).toBe("pending");
    leave.abort();
    await next.catch(() => undefined);
  } finally {
    inventory.close();
  }
}, 120_000);
