/**
 * The saga when a reservation expires before its payment arrives (issue 9, fix 1): inventory, payment and order
 * in-process on the suite's real broker. Payment is stopped while the orders are placed (a payment outage), the
 * inventory clock moves past the reservation TTL and the sweep releases the stock, then payment comes back and
 * authorizes. Each service has a fresh consumer group whose offsets are committed at a snapshot taken before the
 * mesh started, so a stopped and restarted service resumes exactly where it left off.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StockCommitFailedSchema, StockCommittedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { ReservationStatus } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentRefundedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { Topics } from "#shared/events/topics.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { createLogger } from "#shared/logger.js";
import { startPayment, type PaymentApp } from "../../services/payment/src/app.js";
import { loadConfig as loadPaymentConfig } from "../../services/payment/src/config.js";
import { startTestInventory, type RunningInventory } from "../../services/inventory/test/helpers.js";
import { startTestOrderService, type TestOrderService } from "../../services/order/test/helpers.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { commitOffsets, countBy, decodeRecorded, EventLog, quietLogger } from "../system/event-log.js";

const brokers = process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092";
/** TTL_MS is the inventory's default reservation time to live (RESERVATION_TTL_MS, 15 minutes). */
const TTL_MS = 900_000;

let log: EventLog;
let inventory: RunningInventory;
let order: TestOrderService;
let orders: ServiceClient<typeof OrderService>;
let payment: PaymentApp | undefined;
let paymentDir: string;
/** skewMs moves the inventory's clock forward: the test's way of letting the TTL pass. */
let skewMs = 0;
const groups = {
  inventory: `saga-test-${crypto.randomUUID()}-inventory`,
  order: `saga-test-${crypto.randomUUID()}-order`,
  payment: `saga-test-${crypto.randomUUID()}-payment`,
};

const paymentConfig = () =>
  loadPaymentConfig({
    PORT: "0",
    DATA_DIR: paymentDir,
    KAFKA_BROKERS: brokers,
    KAFKA_GROUP_ID: groups.payment,
    KAFKA_FROM_BEGINNING: "false",
    // The saga across in-process services; mTLS and the policy have their own tests.
    MESH_INSECURE: "1",
  });
const paymentLogger = createLogger("payment", { LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "silent", LOG_FORMAT: "json" });

beforeAll(async () => {
  const kafka = createKafkaClient({ brokers: parseBrokers(brokers), clientId: "saga-test", logger: quietLogger() });
  log = await EventLog.open(brokers, undefined, kafka);
  await commitOffsets(kafka, groups.inventory, log.start, [Topics.orderEvents, Topics.paymentEvents]);
  await commitOffsets(kafka, groups.order, log.start, [Topics.paymentEvents, Topics.inventoryEvents]);
  await commitOffsets(kafka, groups.payment, log.start, [Topics.orderEvents]);
  inventory = await startTestInventory({ KAFKA_GROUP_ID: groups.inventory }, { clock: () => new Date(Date.now() + skewMs) });
  order = await startTestOrderService({ INVENTORY_ADDR: inventory.app.address, KAFKA_GROUP_ID: groups.order });
  orders = createClient(OrderService, order.address, { defaultTimeoutMs: 10_000 });
  paymentDir = mkdtempSync(join(tmpdir(), "saga-payment-"));
});

afterAll(async () => {
  orders?.close();
  await payment?.stop();
  await order?.dispose();
  await inventory?.stop();
  await log?.close();
  if (paymentDir) rmSync(paymentDir, { recursive: true, force: true });
});

async function createProduct(available: number): Promise<string> {
  const productId = `sku-saga-${crypto.randomUUID().slice(0, 8)}`;
  const name = `Saga ${productId}`;
  await inventory.client.importStock([{ productId, quantity: available, name, price: { currencyCode: "EUR", amountMinor: 500n } }]);
  return productId;
}

async function placeOrder(productId: string, quantity: number): Promise<string> {
  const customerId = `cust-${crypto.randomUUID().slice(0, 8)}`;
  const { order: created } = await orders.createOrder({ customerId, cardToken: "tok_visa", lines: [{ productId, quantity }] });
  return created!.orderId;
}

/** expireReservations lets the TTL pass on the inventory's clock and runs the sweep, as its timer would. */
function expireReservations(): number {
  skewMs += TTL_MS + 1_000;
  return inventory.app.sweep();
}

async function stockOf(productId: string) {
  const { product } = await inventory.client.getProduct({ productId });
  return { available: product?.stock?.availableQuantity ?? Number.NaN, reserved: product?.stock?.reservedQuantity ?? Number.NaN };
}

/** committedUnits sums the quantities of the product's COMMITTED reservations: the units sold. */
function committedUnits(productId: string): number {
  const row = inventory.app.db
    .prepare<[string], { n: number | null }>(
      `SELECT sum(l.quantity) AS n FROM reservation_lines l JOIN reservations r USING (reservation_id)
        WHERE l.product_id = ? AND r.status = 'COMMITTED'`,
    )
    .get(productId);
  return row?.n ?? 0;
}

async function statusOf(orderId: string) {
  return (await orders.getOrder({ orderId })).order;
}

async function waitForOrder(orderId: string, status: OrderStatus) {
  return waitUntil(async () => ((await statusOf(orderId))?.status === status ? statusOf(orderId) : undefined), {
    timeoutMs: 30_000,
    message: `order ${orderId} to be ${OrderStatus[status]}`,
  });
}

/** paymentOutage stops payment (its group keeps its offsets), runs `during`, then starts it again. */
async function paymentOutage(during: () => Promise<void>): Promise<void> {
  await payment?.stop();
  payment = undefined;
  await during();
  payment = await startPayment(paymentConfig(), { logger: paymentLogger });
}

describe("a reservation that expired before its payment arrived", () => {
  it("when the payment is authorized and the stock is still there, then inventory reserves it again and commits it, and the order is CONFIRMED", async () => {
    // Arrange: an order placed while payment is down, whose reservation the sweep released.
    const productId = await createProduct(5);
    let orderId = "";
    await paymentOutage(async () => {
      orderId = await placeOrder(productId, 2);
      expect(expireReservations()).toBeGreaterThanOrEqual(1);
      expect((await inventory.client.getReservation({ reservationId: orderId })).reservation?.status).toBe(ReservationStatus.RELEASED);
      expect(await stockOf(productId)).toEqual({ available: 5, reserved: 0 });
    });

    // Act: payment is back and authorizes the order.
    const confirmed = await waitForOrder(orderId, OrderStatus.CONFIRMED);

    // Assert: the stock was taken after all, once, and nothing was refunded.
    await waitUntil(
      async () => (await inventory.client.getReservation({ reservationId: orderId })).reservation?.status === ReservationStatus.COMMITTED,
      {
        message: "the expired reservation to be committed",
      },
    );
    expect(await stockOf(productId)).toEqual({ available: 3, reserved: 0 });
    expect(committedUnits(productId)).toBe(2);
    const events = await log.waitForTypes(orderId, [StockCommittedSchema.typeName, "shop.order.v1.OrderConfirmed"]);
    expect(decodeRecorded(StockCommittedSchema, events.find((e) => e.type === StockCommittedSchema.typeName)!).orderId).toBe(orderId);
    const all = await log.about(orderId);
    expect(all.map((e) => e.type)).not.toContain(StockCommitFailedSchema.typeName);
    expect(all.map((e) => e.type)).not.toContain(PaymentRefundedSchema.typeName);
    expect(confirmed?.paymentId).not.toBe("");
  });

  it("when the payment is authorized but the stock went to another order meanwhile, then StockCommitFailed cancels the order and the payment is refunded, and stock is conserved", async () => {
    // Arrange: the first order's reservation expires, then a second order takes every unit left.
    const seeded = 4;
    const productId = await createProduct(seeded);
    let late = "";
    let other = "";
    await paymentOutage(async () => {
      late = await placeOrder(productId, 3);
      expect(expireReservations()).toBeGreaterThanOrEqual(1);
      other = await placeOrder(productId, 4);
      expect(await stockOf(productId)).toEqual({ available: 0, reserved: 4 });
    });

    // Act: payment authorizes both; the first finds no stock.
    const cancelled = await waitForOrder(late, OrderStatus.CANCELLED);
    await waitForOrder(other, OrderStatus.CONFIRMED);

    // Assert: the late order is cancelled for want of stock and refunded; the other one sold; no unit lost or doubled.
    expect(cancelled?.cancelReason).toMatch(/stock no longer available/);
    expect(cancelled?.paymentId).not.toBe("");
    const events = await log.waitForTypes(late, [
      StockCommitFailedSchema.typeName,
      "shop.order.v1.OrderCancelled",
      PaymentRefundedSchema.typeName,
    ]);
    const failed = decodeRecorded(StockCommitFailedSchema, events.find((e) => e.type === StockCommitFailedSchema.typeName)!);
    expect(failed).toMatchObject({ orderId: late, reservationId: late, paymentId: cancelled?.paymentId });
    expect(failed.reason).toMatch(/insufficient stock/);
    const refund = decodeRecorded(PaymentRefundedSchema, events.find((e) => e.type === PaymentRefundedSchema.typeName)!);
    expect(refund.paymentId).toBe(cancelled?.paymentId);
    expect(events.find((e) => e.type === StockCommitFailedSchema.typeName)?.headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-/);
    await waitUntil(async () => (await stockOf(productId)).reserved === 0, { message: "the other order's stock to be committed" });
    const stock = await stockOf(productId);
    expect(stock.available + stock.reserved + committedUnits(productId)).toBe(seeded);
    expect(committedUnits(productId)).toBe(4);
    const all = await log.about(late);
    expect(countBy(all, (e) => e.type)).toMatchObject({
      [StockCommitFailedSchema.typeName]: 1,
      "shop.order.v1.OrderCancelled": 1,
      [PaymentRefundedSchema.typeName]: 1,
    });
    expect(all.map((e) => e.type)).not.toContain(StockCommittedSchema.typeName);
  });
});
