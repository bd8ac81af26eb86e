import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OrderService as OrderServiceV1 } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderService, OrderStatus } from "#gen/shop/order/v2/order_service_pb.js";
import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { OpsService } from "#gen/shop/ops/v1/ops_service_pb.js";
import { PaymentAuthorizedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { decodeEvent, toOutgoingEvent } from "#shared/events/event-bus.js";
import { Topics } from "#shared/events/topics.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { FakeInventory, grpcError, MemoryBus, startTestOrderService, type TestOrderService } from "./helpers.js";

const espressoV2 = (quantity = 2) => ({
  customerId: "cust-v2",
  items: [{ productId: "sku-espresso", quantity }],
  payment: { cardToken: "tok_visa" },
});
const espressoV1 = (quantity = 2) => ({ customerId: "cust-v2", lines: [{ productId: "sku-espresso", quantity }], cardToken: "tok_visa" });

let inventory: FakeInventory;
let bus: MemoryBus;
let service: TestOrderService;
let v1: ServiceClient<typeof OrderServiceV1>;
let v2: ServiceClient<typeof OrderService>;

function count(table: string): number {
  return (service.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

beforeAll(async () => {
  inventory = new FakeInventory();
  await inventory.start();
});

afterAll(() => inventory.stop());

beforeEach(async () => {
  bus = new MemoryBus();
  service = await startTestOrderService({ INVENTORY_ADDR: inventory.address }, { bus });
  v1 = createClient(OrderServiceV1, service.address, { defaultTimeoutMs: 10_000 });
  v2 = createClient(OrderService, service.address, { defaultTimeoutMs: 10_000 });
});

afterEach(async () => {
  v1.close();
  v2.close();
  await service.dispose();
});

describe("shop.order.v2.OrderService", () => {
  it("when an order is created through v2, then it comes back in the v2 shape, awaiting payment, charged to the payment card", async () => {
    const { order } = await v2.createOrder(espressoV2(2));

    expect(order?.items).toHaveLength(1);
    expect(order?.items[0]).toMatchObject({ productId: "sku-espresso", quantity: 2 });
    expect(order?.items[0]?.unitPrice?.amountMinor).toBe(250n);
    expect(order?.items[0]?.subtotal?.amountMinor).toBe(500n);
    expect(order?.total).toMatchObject({ currencyCode: "EUR", amountMinor: 500n });
    expect(order?.state?.status).toBe(OrderStatus.AWAITING_PAYMENT);
    expect(order?.state?.reason).toBe("order created");
    expect(timestampDate(order!.state!.since!).getTime()).toBe(timestampDate(order!.createTime!).getTime());
    // The card of the v2 `payment` object is the one the OrderCreated event asks payment to charge.
    const row = service.db.prepare(`SELECT event_type, payload FROM outbox`).get() as { event_type: string; payload: Buffer };
    const created = decodeEvent(OrderCreatedSchema, { type: row.event_type, data: new Uint8Array(row.payload) });
    expect(created).toMatchObject({ orderId: order!.orderId, cardToken: "tok_visa" });
  });

  it("when a v1-created order is cancelled and read through v2, then state carries the cancel reason and time", async () => {
    const { order: created } = await v1.createOrder(espressoV1());
    const { order: cancelled } = await v1.cancelOrder({ orderId: created!.orderId, reason: "changed my mind" });

    const { order } = await v2.getOrder({ orderId: created!.orderId });

    expect(order).toMatchObject({ orderId: created!.orderId, customerId: "cust-v2" });
    expect(order?.items.map((i) => i.productId)).toEqual(["sku-espresso"]);
    expect(order?.state?.status).toBe(OrderStatus.CANCELLED);
    expect(order?.state?.reason).toBe("changed my mind");
    expect(timestampDate(order!.state!.since!).getTime()).toBe(timestampDate(cancelled!.updateTime!).getTime());
  });

  it.each([
    ["a zero quantity", { items: [{ productId: "sku-espresso", quantity: 0 }] }, "items[0].quantity: must be between 1 and 1000"],
    [
      "a product twice",
      {
        items: [
          { productId: "sku-espresso", quantity: 1 },
          { productId: "sku-espresso", quantity: 1 },
        ],
      },
      "items[1].product_id:",
    ],
    ["an unknown product", { items: [{ productId: "sku-nope", quantity: 1 }] }, "items[0].product_id:"],
    ["no payment", { payment: undefined }, "payment.card_token: is required"],
  ])("when a v2 request has %s, then INVALID_ARGUMENT names the v2 field path and nothing is written", async (_, overrides, message) => {
    const err = await grpcError(v2.createOrder({ ...espressoV2(), ...overrides }));

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details.startsWith(message)).toBe(true);
    expect(count("orders")).toBe(0);
    expect(count("outbox")).toBe(0);
  });

  it("when a v2 watcher follows an order, then it sees the current state and the confirmation, and the stream ends", async () => {
    const { order } = await v2.createOrder(espressoV2());
    const seen: { status: OrderStatus; reason: string }[] = [];
    const watching = (async () => {
      for await (const message of v2.watchOrder({ orderId: order!.orderId })) {
        seen.push({ status: message.order!.state!.status, reason: message.order!.state!.reason });
      }
    })();
    await waitUntil(() => seen.length === 1, { timeoutMs: 5_000, message: "the current state" });

    const authorized = create(PaymentAuthorizedSchema, { paymentId: "pay-v2", orderId: order!.orderId });
    await bus.deliver(
      Topics.paymentEvents,
      toOutgoingEvent(PaymentAuthorizedSchema, authorized, { source: "test", subject: order!.orderId }),
    );
    await watching; // ends by itself after the terminal state

    expect(seen).toEqual([
      { status: OrderStatus.AWAITING_PAYMENT, reason: "order created" },
      { status: OrderStatus.CONFIRMED, reason: "payment authorized" },
    ]);
  });

  it("when v1 and v2 send the same idempotency key with the same order, then both get the one order", async () => {
    const metadata = { "idempotency-key": `key-${crypto.randomUUID()}` };

    const first = await v1.createOrder(espressoV1(3), { metadata });
    const second = await v2.createOrder(espressoV2(3), { metadata });
    const third = await v1.createOrder(espressoV1(3), { metadata });

    expect(second.order?.orderId).toBe(first.order?.orderId);
    expect(third.order?.orderId).toBe(first.order?.orderId);
    expect(count("orders")).toBe(1);
  });

  it("when v2 reuses a v1 idempotency key for a different order, then INVALID_ARGUMENT on idempotency-key", async () => {
    const metadata = { "idempotency-key": `key-${crypto.randomUUID()}` };
    await v1.createOrder(espressoV1(1), { metadata });

    const err = await grpcError(v2.createOrder(espressoV2(4), { metadata }));

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^idempotency-key:/);
    expect(count("orders")).toBe(1);
  });

  it("when orders exist, then a v2 listing pages through them with the status filter", async () => {
    const a = await v2.createOrder(espressoV2(1));
    const b = await v1.createOrder(espressoV1(1));
    await v2.cancelOrder({ orderId: a.order!.orderId, reason: "" });

    const awaiting = await v2.listOrders({ status: OrderStatus.AWAITING_PAYMENT });
    const first = await v2.listOrders({ pageSize: 1 });
    const second = await v2.listOrders({ pageSize: 1, pageToken: first.nextPageToken });

    expect(awaiting.orders.map((o) => o.orderId)).toEqual([b.order!.orderId]);
    expect(first.orders.map((o) => o.orderId)).toEqual([b.order!.orderId]);
    expect(second.orders.map((o) => o.orderId)).toEqual([a.order!.orderId]);
    expect(second.orders[0]?.state?.reason).toBe("cancelled by the customer");
  });
});

describe("shop.ops.v1.OpsService on the order service", () => {
  it("when an order was created and its event published, then GetEventStatus counts it as published", async () => {
    const ops = createClient(OpsService, service.address, { defaultTimeoutMs: 5_000 });
    try {
      const before = await ops.getEventStatus({});
      await v2.createOrder(espressoV2());
      await waitUntil(() => bus.published.length === 1, { timeoutMs: 5_000, message: "OrderCreated published" });
      await waitUntil(() => count("outbox") === 1 && service.db.prepare(`SELECT state FROM outbox`).pluck().get() === "PUBLISHED", {
        timeoutMs: 5_000,
        message: "row marked",
      });

      const after = await ops.getEventStatus({});

      expect(before).toMatchObject({ service: "order", outboxPending: 0n, outboxPublished: 0n, inboxProcessed: 0n });
      expect(after).toMatchObject({ service: "order", outboxPending: 0n, outboxFailed: 0n, outboxPublished: 1n });
      expect(after.oldestPendingTime).toBeUndefined();
    } finally {
      ops.close();
    }
  });
});
