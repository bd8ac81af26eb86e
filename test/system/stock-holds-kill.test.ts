/**
 * Stock held with no order, on real processes: the order service is killed with SIGKILL while inventory holds stock
 * for an order it never stored (the reservation's answer lost on a cut link). Its record of the hold, written
 * before the reservation went out, is what frees the stock after the restart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { CutProxy } from "./cut-proxy.js";
import { availableOf, createOrder, createProduct, orderOf, waitForStatus } from "./fixtures.js";
import { Mesh } from "./mesh.js";

let mesh: Mesh | undefined;
let proxy: CutProxy;

beforeAll(async () => {
  // The order service reaches inventory through the proxy; inventory's port is known once the mesh runs, and the
  // order service first dials inventory on its first reservation.
  proxy = await CutProxy.start(() => mesh!.address("inventory"));
  mesh = await Mesh.start({ env: { order: { INVENTORY_ADDR: proxy.address } } });
});

afterAll(async () => {
  await mesh?.stop();
  await proxy?.stop();
});

describe("stock held with no order, across a SIGKILL", () => {
  it("when the order service is killed while inventory holds stock for an order it never stored, then after its restart the stock comes back", async () => {
    // Arrange
    const m = mesh!;
    const productId = await createProduct(m, 10);
    const kept = await createOrder(m, orderOf(productId, 1)); // also opens the ReserveStock stream
    proxy.cutAfterNextWrite();
    const lost = createOrder(m, orderOf(productId, 2)).catch((error: unknown) => error);
    await waitUntil(async () => (await availableOf(m, productId)) === 7, {
      timeoutMs: 10_000,
      message: "inventory to hold the reservation whose answer is lost",
    });

    // Act
    await m.kill("order", "SIGKILL");
    expect(await lost).toBeInstanceOf(Error);
    proxy.heal();
    await m.restart("order");

    // Assert: only the stored order keeps its unit; it completes as usual.
    await waitUntil(async () => (await availableOf(m, productId)) === 9, {
      timeoutMs: 30_000,
      message: "the stock of the order that was never stored to be released",
      describe: () => m.describe(20),
    });
    await waitForStatus(m, kept.orderId, OrderStatus.CONFIRMED, 60_000);
    expect(await availableOf(m, productId)).toBe(9);
  }, 180_000);
});
