// Above saturation CreateOrder is shed at once (RESOURCE_EXHAUSTED with a retry-after hint) instead of queueing for
// seconds behind the reservations already in flight; what was admitted still completes. A real order service over
// gRPC, with an inventory slow enough that the flood piles up.
import { type Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { OrderService, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { FakeInventory, MemoryBus, startTestOrderService, type TestOrderService } from "./helpers.js";

const LIMIT = 4;
const FLOOD = 24;
const espresso = () => ({ customerId: "cust-flood", lines: [{ productId: "sku-espresso", quantity: 1 }], cardToken: "tok_visa" });

let inventory: FakeInventory;
let service: TestOrderService;
let client: ServiceClient<typeof OrderService>;

beforeAll(async () => {
  inventory = new FakeInventory();
  await inventory.start();
  service = await startTestOrderService(
    { INVENTORY_ADDR: inventory.address, CREATE_MAX_IN_FLIGHT: String(LIMIT), RESERVE_TIMEOUT_MS: "10000" },
    { bus: new MemoryBus() },
  );
  client = createClient(OrderService, service.address, { defaultTimeoutMs: 20_000 });
});

afterAll(async () => {
  client.close();
  await service?.dispose();
  inventory?.stop();
});

type Outcome = { ok: true; status: OrderStatus | undefined } | { ok: false; code: number; retryAfter: string | undefined };

async function attempt(): Promise<Outcome> {
  let trailer: Metadata | undefined;
  try {
    const { order } = await client.createOrder(espresso(), { onTrailer: (t) => (trailer = t) });
    return { ok: true, status: order?.status };
  } catch (error) {
    return { ok: false, code: (error as { code: number }).code, retryAfter: trailer?.get("retry-after")[0]?.toString() };
  }
}

it("when more CreateOrders arrive than the limit admits, then the excess gets RESOURCE_EXHAUSTED with retry-after at once, and the admitted ones complete", async () => {
  // Arrange: every reservation takes a while, so a flood overlaps.
  inventory.delayMs = 200;

  // Act
  const outcomes = await Promise.all(Array.from({ length: FLOOD }, attempt));

  // Assert
  const accepted = outcomes.filter((o) => o.ok);
  const shed = outcomes.filter((o) => !o.ok);
  expect(accepted.length).toBeGreaterThanOrEqual(1);
  expect(accepted.length).toBeLessThan(FLOOD);
  expect(accepted.every((o) => o.status === OrderStatus.AWAITING_PAYMENT)).toBe(true);
  expect(shed).toEqual(shed.map(() => ({ ok: false, code: status.RESOURCE_EXHAUSTED, retryAfter: "1" })));
  // Nothing shed reached the inventory: the reservations made are those of the accepted orders.
  expect(inventory.reservations.size).toBe(accepted.length);
});

it("when the flood is over, then CreateOrder is admitted again (every slot was given back, failures included)", async () => {
  // Arrange: failing creates (unknown product) must give their slot back too.
  inventory.delayMs = 0;
  const unknown = { ...espresso(), lines: [{ productId: "sku-nope", quantity: 1 }] };
  for (let i = 0; i < LIMIT * 2; i++) await client.createOrder(unknown).catch(() => undefined);

  // Act
  const outcomes = await Promise.all(Array.from({ length: LIMIT }, attempt));

  // Assert
  expect(outcomes).toEqual(outcomes.map(() => ({ ok: true, status: OrderStatus.AWAITING_PAYMENT })));
});
