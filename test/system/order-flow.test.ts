/**
 * System tests of the order flow: inventory, payment and order as real processes on a real broker (test/system/
 * mesh.ts). Each test uses its own products and customers, so they share one mesh.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StockCommittedSchema, StockReleasedSchema, StockReservedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { OrderCancelledSchema, OrderConfirmedSchema, OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentAuthorizedSchema, PaymentDeclinedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { Topics } from "#shared/events/topics.js";
import { countBy, decodeRecorded, type RecordedEvent } from "./event-log.js";
import {
  availableOf,
  createOrder,
  createProduct,
  grpcError,
  orderOf,
  RFC3339_PATTERN,
  statusName,
  UUID_PATTERN,
  waitForStatus,
} from "./fixtures.js";
import { Mesh } from "./mesh.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

const TOPIC_OF: Record<string, string> = {
  [OrderCreatedSchema.typeName]: Topics.orderEvents,
  [OrderConfirmedSchema.typeName]: Topics.orderEvents,
  [OrderCancelledSchema.typeName]: Topics.orderEvents,
  [PaymentAuthorizedSchema.typeName]: Topics.paymentEvents,
  [PaymentDeclinedSchema.typeName]: Topics.paymentEvents,
  [StockReservedSchema.typeName]: Topics.inventoryEvents,
  [StockCommittedSchema.typeName]: Topics.inventoryEvents,
  [StockReleasedSchema.typeName]: Topics.inventoryEvents,
};

let mesh: Mesh;

beforeAll(async () => {
  mesh = await Mesh.start();
});

afterAll(async () => {
  await mesh?.stop();
});

/** expectCloudEvent checks the CloudEvents Kafka binding (binary mode) on one recorded event about `orderId`. */
function expectCloudEvent(event: RecordedEvent, orderId: string): void {
  expect(event.topic, `${event.type} topic`).toBe(TOPIC_OF[event.type]);
  expect(event.key, `${event.type} key`).toBe(orderId);
  expect(event.headers).toMatchObject({
    ce_specversion: "1.0",
    ce_subject: orderId,
    "content-type": "application/protobuf",
  });
  expect(event.headers["ce_id"]).toMatch(UUID_PATTERN);
  expect(event.headers["ce_time"]).toMatch(RFC3339_PATTERN);
  expect(event.headers["ce_source"]).toBeTruthy();
}

describe("the order flow through real processes", () => {
  it("when an order is paid, then it is confirmed, its stock is sold and each step publishes one CloudEvent", async () => {
    // Arrange
    const productId = await createProduct(mesh, 10, 1_250n);

    // Act
    const created = await createOrder(mesh, orderOf(productId, 2));
    const confirmed = await waitForStatus(mesh, created.orderId, OrderStatus.CONFIRMED);

    // Assert: the order and the stock
    expect(created.status).toBe(OrderStatus.AWAITING_PAYMENT);
    expect(confirmed.paymentId).not.toBe("");
    expect(confirmed.total).toMatchObject({ currencyCode: "EUR", amountMinor: 2_500n });
    await waitUntil(async () => (await mesh.inventory.getProduct({ productId })).product?.stock?.reservedQuantity === 0, {
      message: "the reservation to be committed",
    });
    expect(await availableOf(mesh, productId)).toBe(8);

    // Assert: the events on all three topics, one of each, with CloudEvents headers
    const types = [
      OrderCreatedSchema.typeName,
      PaymentAuthorizedSchema.typeName,
      StockReservedSchema.typeName,
      StockCommittedSchema.typeName,
      OrderConfirmedSchema.typeName,
    ];
    await mesh.events.waitForTypes(created.orderId, types);
    const events = await mesh.events.about(created.orderId);
    expect(countBy(events, (e) => e.type)).toEqual(Object.fromEntries(types.map((t) => [t, 1])));
    for (const event of events) expectCloudEvent(event, created.orderId);
    const byType = (type: string) => events.find((e) => e.type === type)!;
    const orderCreated = decodeRecorded(OrderCreatedSchema, byType(OrderCreatedSchema.typeName));
    expect(orderCreated).toMatchObject({ orderId: created.orderId, cardToken: "tok_visa", total: { amountMinor: 2_500n } });
    expect(orderCreated.lines.map((l) => [l.productId, l.quantity])).toEqual([[productId, 2]]);
    const authorized = decodeRecorded(PaymentAuthorizedSchema, byType(PaymentAuthorizedSchema.typeName));
    expect(authorized.paymentId).toBe(confirmed.paymentId);
    // The event of one order share a key, so they sit on one partition per topic, in causal order per topic.
    const orderTopic = events.filter((e) => e.topic === Topics.orderEvents).map((e) => e.type);
    expect(orderTopic).toEqual([OrderCreatedSchema.typeName, OrderConfirmedSchema.typeName]);
  });

  it("when a payment is declined, then the order is cancelled and the reserved stock is released", async () => {
    // Arrange
    const productId = await createProduct(mesh, 5);

    // Act
    const created = await createOrder(mesh, orderOf(productId, 3, { cardToken: "tok_decline" }));
    const cancelled = await waitForStatus(mesh, created.orderId, OrderStatus.CANCELLED);

    // Assert
    expect(cancelled.cancelReason).toMatch(/declin/i);
    await waitUntil(async () => (await availableOf(mesh, productId)) === 5, { message: "the stock to be released" });
    const types = [PaymentDeclinedSchema.typeName, StockReleasedSchema.typeName, OrderCancelledSchema.typeName];
    const events = await mesh.events.waitForTypes(created.orderId, types);
    expect(events.some((e) => e.type === PaymentAuthorizedSchema.typeName)).toBe(false);
    expect(countBy(events, (e) => e.type)).toMatchObject(Object.fromEntries(types.map((t) => [t, 1])));
    for (const event of events) expectCloudEvent(event, created.orderId);
  });

  it("when stock is short, then CreateOrder fails with FAILED_PRECONDITION and nothing is stored or published", async () => {
    // Arrange
    const productId = await createProduct(mesh, 2);
    const request = orderOf(productId, 3);

    // Act
    const error = await grpcError(createOrder(mesh, request));

    // Assert
    expect(error.codeName).toBe("FAILED_PRECONDITION");
    expect((await mesh.order.listOrders({ customerId: request.customerId })).orders).toEqual([]);
    expect(await availableOf(mesh, productId)).toBe(2);
    // The relay publishes oldest first: once a later order's OrderCreated is out, an earlier one would be too.
    const later = await createOrder(mesh, orderOf(productId, 1));
    await mesh.events.waitForTypes(later.orderId, [OrderCreatedSchema.typeName]);
    const created = (await mesh.events.read(Topics.orderEvents)).filter((e) => e.type === OrderCreatedSchema.typeName);
    expect(created.map((e) => decodeRecorded(OrderCreatedSchema, e).customerId)).not.toContain(request.customerId);
  });

  it("when the same idempotency key is sent twice, then one order is created and one OrderCreated published", async () => {
    // Arrange
    const productId = await createProduct(mesh, 10);
    const request = orderOf(productId, 1);
    const key = crypto.randomUUID();

    // Act
    const first = await createOrder(mesh, request, key);
    const second = await createOrder(mesh, request, key);
    await waitForStatus(mesh, first.orderId, OrderStatus.CONFIRMED);

    // Assert
    expect(second.orderId).toBe(first.orderId);
    expect((await mesh.order.listOrders({ customerId: request.customerId })).orders).toHaveLength(1);
    expect(await availableOf(mesh, productId)).toBe(9);
    const events = await mesh.events.about(first.orderId, Topics.orderEvents);
    expect(events.filter((e) => e.type === OrderCreatedSchema.typeName)).toHaveLength(1);
  });

  it("when the same idempotency key comes with a different request, then it is INVALID_ARGUMENT on idempotency-key", async () => {
    // Arrange
    const productId = await createProduct(mesh, 10);
    const request = orderOf(productId, 1);
    const key = crypto.randomUUID();
    await createOrder(mesh, request, key);

    // Act
    const error = await grpcError(createOrder(mesh, { ...request, lines: [{ productId, quantity: 2 }] }, key));

    // Assert
    expect(error.codeName).toBe("INVALID_ARGUMENT");
    expect(error.details).toContain("idempotency-key");
    expect((await mesh.order.listOrders({ customerId: request.customerId })).orders).toHaveLength(1);
  });

  it("when ten identical requests race with one idempotency key, then all get the same single order", async () => {
    // Arrange
    const productId = await createProduct(mesh, 20);
    const request = orderOf(productId, 2);
    const key = crypto.randomUUID();

    // Act
    const orders = await Promise.all(Array.from({ length: 10 }, () => createOrder(mesh, request, key)));
    await waitForStatus(mesh, orders[0]!.orderId, OrderStatus.CONFIRMED);

    // Assert
    expect(new Set(orders.map((o) => o.orderId)).size).toBe(1);
    expect((await mesh.order.listOrders({ customerId: request.customerId })).orders).toHaveLength(1);
    expect(await availableOf(mesh, productId)).toBe(18);
    const events = await mesh.events.about(orders[0]!.orderId, Topics.orderEvents);
    expect(events.filter((e) => e.type === OrderCreatedSchema.typeName)).toHaveLength(1);
  });

  it("when an order is watched, then WatchOrder streams AWAITING_PAYMENT, then CONFIRMED, then ends", async () => {
    // Arrange: with payment stopped the order cannot move on before the watch has started.
    const productId = await createProduct(mesh, 5);
    await mesh.kill("payment", "SIGTERM");
    const created = await createOrder(mesh, orderOf(productId, 1));

    // Act: payment comes back once the first state has arrived.
    const seen: string[] = [];
    let restarting: Promise<void> | undefined;
    try {
      for await (const response of mesh.order.watchOrder({ orderId: created.orderId }, { timeoutMs: 90_000 })) {
        seen.push(statusName(response.order!.status));
        restarting ??= mesh.restart("payment");
      }
    } finally {
      await (restarting ?? mesh.restart("payment"));
    }

    // Assert
    expect(seen).toEqual([statusName(OrderStatus.AWAITING_PAYMENT), statusName(OrderStatus.CONFIRMED)]);
    const final = await mesh.order.getOrder({ orderId: created.orderId });
    expect(final.order?.history.map((h) => statusName(h.status))).toEqual(seen);
  });
});
