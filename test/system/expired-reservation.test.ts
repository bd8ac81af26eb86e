/**
 * The late-payment saga through real processes (issue 9, fix 1): a payment outage outlasts an order's reservation,
 * the stock goes to another order meanwhile, and when payment comes back the first order must end CANCELLED and
 * refunded, with every unit accounted for. The inventory runs with a short RESERVATION_TTL_MS so its own sweep
 * expires the first reservation, then restarts with the default TTL so the second one stays held.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StockCommitFailedSchema, StockCommittedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { ReservationStatus } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderCancelledSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentStatus } from "#gen/shop/payment/v1/payment_service_pb.js";
import { PaymentAuthorizedSchema, PaymentRefundedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { countBy, decodeRecorded } from "./event-log.js";
import { createOrder, createProduct, orderOf, waitForStatus } from "./fixtures.js";
import { Mesh } from "./mesh.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

let mesh: Mesh;

beforeAll(async () => {
  mesh = await Mesh.start({ env: { inventory: { RESERVATION_TTL_MS: "1500" } } });
});

afterAll(async () => {
  await mesh?.stop();
});

async function reservationOf(orderId: string) {
  return (await mesh.inventory.getReservation({ reservationId: orderId })).reservation;
}

/** unitsIn sums a reservation's quantities of one product. */
function unitsIn(reservation: Awaited<ReturnType<typeof reservationOf>>, productId: string): number {
  return (reservation?.lines ?? []).filter((line) => line.productId === productId).reduce((n, line) => n + line.quantity, 0);
}

describe("a payment that arrives after its reservation expired and its stock was sold", () => {
  it("when payment comes back, then the late order is CANCELLED for want of stock and refunded, the other is CONFIRMED, and stock is conserved", async () => {
    // Arrange: payment is down; the late order's reservation expires (inventory's own sweep).
    const seeded = 4;
    const productId = await createProduct(mesh, seeded);
    await mesh.kill("payment", "SIGTERM");
    const late = await createOrder(mesh, orderOf(productId, 3));
    await waitUntil(async () => (await reservationOf(late.orderId))?.status === ReservationStatus.RELEASED, {
      timeoutMs: 15_000,
      message: "the late order's reservation to expire",
    });
    // The other order takes every unit and keeps them held (inventory back on the default TTL).
    await mesh.kill("inventory", "SIGTERM");
    await mesh.restart("inventory", { RESERVATION_TTL_MS: "900000" });
    const otherKey = crypto.randomUUID();
    const other = await waitUntil(() => createOrder(mesh, orderOf(productId, seeded), otherKey).catch(() => undefined), {
      timeoutMs: 30_000,
      message: "the order service to reserve through the restarted inventory",
    });
    expect((await reservationOf(other.orderId))?.status).toBe(ReservationStatus.HELD);

    // Act: payment comes back and authorizes both orders.
    await mesh.restart("payment");

    // Assert: the late order is cancelled and refunded; the other one is sold.
    const cancelled = await waitForStatus(mesh, late.orderId, OrderStatus.CANCELLED, 60_000);
    await waitForStatus(mesh, other.orderId, OrderStatus.CONFIRMED, 60_000);
    expect(cancelled.cancelReason).toBe("stock no longer available");
    const events = await mesh.events.waitForTypes(late.orderId, [
      PaymentAuthorizedSchema.typeName,
      StockCommitFailedSchema.typeName,
      OrderCancelledSchema.typeName,
      PaymentRefundedSchema.typeName,
    ]);
    const authorized = decodeRecorded(PaymentAuthorizedSchema, events.find((e) => e.type === PaymentAuthorizedSchema.typeName)!);
    expect(cancelled.paymentId).toBe(authorized.paymentId);
    const failed = decodeRecorded(StockCommitFailedSchema, events.find((e) => e.type === StockCommitFailedSchema.typeName)!);
    expect(failed).toMatchObject({ orderId: late.orderId, paymentId: authorized.paymentId });
    expect(decodeRecorded(OrderCancelledSchema, events.find((e) => e.type === OrderCancelledSchema.typeName)!).paymentId).toBe(
      authorized.paymentId,
    );
    const { payment } = await mesh.payment.getPayment({ paymentId: authorized.paymentId });
    expect(payment?.status).toBe(PaymentStatus.REFUNDED);
    const all = await mesh.events.about(late.orderId);
    expect(countBy(all, (e) => e.type)).toMatchObject({
      [StockCommitFailedSchema.typeName]: 1,
      [OrderCancelledSchema.typeName]: 1,
      [PaymentRefundedSchema.typeName]: 1,
    });
    expect(all.some((e) => e.type === StockCommittedSchema.typeName)).toBe(false);

    // Stock is conserved: available + held + committed = seeded.
    await waitUntil(async () => (await reservationOf(other.orderId))?.status === ReservationStatus.COMMITTED, {
      message: "the other order's stock to be committed",
    });
    const { product } = await mesh.inventory.getProduct({ productId });
    const committed = [await reservationOf(late.orderId), await reservationOf(other.orderId)]
      .filter((reservation) => reservation?.status === ReservationStatus.COMMITTED)
      .reduce((n, reservation) => n + unitsIn(reservation, productId), 0);
    expect({ available: product?.stock?.availableQuantity, held: product?.stock?.reservedQuantity, committed }).toEqual({
      available: 0,
      held: 0,
      committed: seeded,
    });
  }, 180_000);
});
