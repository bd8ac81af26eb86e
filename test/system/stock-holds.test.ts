/**
 * Stock held with no order: a CreateOrder whose reservation inventory made but whose answer was lost, and whose
 * release could not get through either. The real inventory and order services run in-process, the link between them
 * through a proxy that cuts it like a network partition. Whatever happens, once inventory is reachable again the
 * stock comes back, with the order service restarted or not, and with its inventory breaker open.
 */
import { rmSync } from "node:fs";
import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StockReservedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { ReservationStatus } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { recordingBus, startTestInventory, type RunningInventory } from "../../services/inventory/test/helpers.js";
import type { StartOptions } from "../../services/order/src/app.js";
import { grpcError, MemoryBus, startTestOrderService, type TestOrderService } from "../../services/order/test/helpers.js";
import { CutProxy } from "./cut-proxy.js";

const PRODUCT = "sku-espresso";
const order = (quantity: number) => ({ customerId: "cust-holds", cardToken: "tok_visa", lines: [{ productId: PRODUCT, quantity }] });

const RELEASE_TIMEOUT_MS = 500;

/** ORDER_OPTIONS: the first lost answer opens the breaker for good, and releases retry quickly. */
const ORDER_OPTIONS: StartOptions = {
  reserver: { breakerThreshold: 1, halfOpenAfterMs: 600_000, releaseTimeoutMs: RELEASE_TIMEOUT_MS },
  releases: { everyMs: 100, firstBackoffMs: 200, maxBackoffMs: 400 },
};

let inventory: RunningInventory;
let inventoryBus: ReturnType<typeof recordingBus>;
let proxy: CutProxy;
let service: TestOrderService | undefined;
let client: ServiceClient<typeof OrderService> | undefined;

async function startOrder(env: Record<string, string> = {}): Promise<void> {
  service = await startTestOrderService({ INVENTORY_ADDR: proxy.address, ...env }, { bus: new MemoryBus(), ...ORDER_OPTIONS });
  client = createClient(OrderService, service.address, { defaultTimeoutMs: 10_000 });
}

async function available(): Promise<number> {
  const { product } = await inventory.client.getProduct({ productId: PRODUCT });
  return product?.stock?.availableQuantity ?? Number.NaN;
}

function holds(): unknown[] {
  return service!.db.prepare(`SELECT order_id FROM stock_holds`).all();
}

function orderCount(): number {
  return (service!.db.prepare(`SELECT count(*) AS n FROM orders`).get() as { n: number }).n;
}

async function reservationStatus(reservationId: string): Promise<ReservationStatus> {
  const { reservation } = await inventory.client.getReservation({ reservationId });
  return reservation?.status ?? ReservationStatus.UNSPECIFIED;
}

/**
 * loseAnOrder creates an order while the link is cut right after its reservation went out: inventory holds the
 * stock, the order service never hears back (DEADLINE_EXCEEDED at its own 1.5 s bound), and its release is lost
 * too. Returns the order id the stock is held under.
 */
async function loseAnOrder(): Promise<string> {
  await client!.createOrder(order(1)); // the ReserveStock stream is open, so the next write is the reservation
  const before = await available();
  proxy.cutAfterNextWrite();
  const lost = await grpcError(client!.createOrder(order(2)));
  expect(lost.code).toBe(status.DEADLINE_EXCEEDED);
  expect(orderCount()).toBe(1);
  const orderId = await waitUntil(() => reservedOrders().find((id) => !orderExists(id)), {
    timeoutMs: 5_000,
    message: "inventory to have reserved stock for an order that does not exist",
  });
  expect(await reservationStatus(orderId)).toBe(ReservationStatus.HELD);
  expect(await available()).toBe(before - 2);
  // The order service gives the stock back at once, but that release is lost on the cut link too: let its
  // deadline pass before the link heals, so only a retry can free the stock.
  await waitUntil(() => proxy.droppedWrites > 0, { timeoutMs: 5_000, message: "a release to go out on the cut link" });
  await new Promise((resolve) => setTimeout(resolve, RELEASE_TIMEOUT_MS + 500));
  expect(await reservationStatus(orderId)).toBe(ReservationStatus.HELD);
  return orderId;
}

/** reservedOrders lists the orders inventory published StockReserved for. */
function reservedOrders(): string[] {
  return inventoryBus.published.filter((p) => p.event.type === StockReservedSchema.typeName).map((p) => p.event.subject);
}

function orderExists(orderId: string): boolean {
  return service!.db.prepare(`SELECT 1 FROM orders WHERE order_id = ?`).get(orderId) !== undefined;
}

beforeEach(async () => {
  inventoryBus = recordingBus();
  inventory = await startTestInventory({}, { bus: inventoryBus });
  proxy = await CutProxy.start(() => inventory.app.address);
});

afterEach(async () => {
  client?.close();
  await service?.dispose();
  await proxy.stop();
  await inventory.stop();
  client = undefined;
  service = undefined;
});

describe("stock held with no order", () => {
  it("when a lost reservation's release fails while the breaker is open, then it is retried until inventory has the stock back", async () => {
    // Arrange
    await startOrder();
    const seeded = await available();
    const orderId = await loseAnOrder();

    // Act: inventory is reachable again; the breaker stays open (600 s).
    proxy.heal();

    // Assert
    await waitUntil(async () => (await reservationStatus(orderId)) === ReservationStatus.RELEASED, {
      timeoutMs: 15_000,
      message: `the reservation of order ${orderId} to be released`,
    });
    expect(await available()).toBe(seeded - 1); // only the stored order holds stock
    await waitUntil(() => holds().length === 0, { timeoutMs: 5_000, message: "the stock hold record to be dropped" });
    const broken = await grpcError(client!.createOrder(order(1)));
    expect(broken.details).toMatch(/^inventory circuit open/);
  });

  it("when the order service restarts before inventory is reachable again, then the recorded release runs after the restart", async () => {
    // Arrange
    await startOrder();
    const seeded = await available();
    const orderId = await loseAnOrder();
    const dataDir = service!.dataDir;
    client!.close();
    await service!.stop();

    // Act
    proxy.heal();
    await startOrder({ DATA_DIR: dataDir });

    // Assert
    await waitUntil(async () => (await reservationStatus(orderId)) === ReservationStatus.RELEASED, {
      timeoutMs: 15_000,
      message: `the reservation of order ${orderId} to be released after the restart`,
    });
    expect(await available()).toBe(seeded - 1);
    await waitUntil(() => holds().length === 0, { timeoutMs: 5_000, message: "the stock hold record to be dropped" });
    expect(orderCount()).toBe(1);
    rmSync(dataDir, { recursive: true, force: true }); // the restarted service's own temp dir is not this one
  });
});
