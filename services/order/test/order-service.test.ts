import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OrderService, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderCancelledSchema, OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { PaymentAuthorizedSchema, PaymentDeclinedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { decodeEvent, toOutgoingEvent } from "#shared/events/event-bus.js";
import { Topics } from "#shared/events/topics.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { checkHealth, createHealthClient } from "#shared/grpc/health-client.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { OrderEmailKind, SendOrderEmailSchema } from "#gen/shop/notification/v1/notification_commands_pb.js";
import { decodeCommand } from "#shared/commands/index.js";
import { parseTraceparent } from "#shared/trace-context.js";
import { FakeInventory, grpcError, MemoryBus, MemoryCommandBus, startTestOrderService, type TestOrderService } from "./helpers.js";

const card = "tok_visa";
const espresso = (quantity = 2) => ({ customerId: "cust-1", lines: [{ productId: "sku-espresso", quantity }], cardToken: card });

let inventory: FakeInventory;
let bus: MemoryBus;
let commands: MemoryCommandBus;
let service: TestOrderService;
let client: ServiceClient<typeof OrderService>;

function count(table: string): number {
  return (service.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

function outboxTypes(): string[] {
  return (service.db.prepare(`SELECT event_type FROM outbox ORDER BY seq`).all() as { event_type: string }[]).map((r) => r.event_type);
}

async function deliverPayment(schema: typeof PaymentAuthorizedSchema | typeof PaymentDeclinedSchema, init: Record<string, unknown>) {
  const message = create(schema as typeof PaymentAuthorizedSchema, init);
  const event = toOutgoingEvent(schema as typeof PaymentAuthorizedSchema, message, { source: "test", subject: String(init["orderId"]) });
  await bus.deliver(Topics.paymentEvents, event);
  return event;
}

beforeAll(async () => {
  inventory = new FakeInventory();
  await inventory.start();
});

afterAll(() => inventory.stop());

beforeEach(async () => {
  bus = new MemoryBus();
  commands = new MemoryCommandBus();
  service = await startTestOrderService(
    { INVENTORY_ADDR: inventory.address },
    { bus, commandBus: commands, reserver: { breakerThreshold: 3, halfOpenAfterMs: 60_000 } },
  );
  client = createClient(OrderService, service.address, { defaultTimeoutMs: 10_000 });
});

afterEach(async () => {
  client.close();
  await service.dispose();
  inventory.breakNextStream = false;
  inventory.delayMs = 0;
});

describe("CreateOrder", () => {
  it("when stock is reserved, then the order awaits payment and an OrderCreated waits in the outbox", async () => {
    const { order } = await client.createOrder(espresso(2), {
      metadata: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    });
    expect(order?.status).toBe(OrderStatus.AWAITING_PAYMENT);
    expect(order?.total).toMatchObject({ currencyCode: "EUR", amountMinor: 500n });
    expect(order?.lines[0]?.unitPrice?.amountMinor).toBe(250n);
    expect(inventory.reservations.has(order!.orderId)).toBe(true);
    const row = service.db.prepare(`SELECT * FROM outbox`).get() as {
      subject: string;
      topic: string;
      traceparent: string;
      event_type: string;
      payload: Buffer;
    };
    expect(row).toMatchObject({ subject: order!.orderId, topic: Topics.orderEvents, event_type: "shop.order.v1.OrderCreated" });
    expect(row.traceparent).toMatch(/^00-0af7/);
    const created = decodeEvent(OrderCreatedSchema, { type: row.event_type, data: new Uint8Array(row.payload) });
    expect(created).toMatchObject({ orderId: order!.orderId, cardToken: card, customerId: "cust-1" });
    // The relay publishes it after the commit.
    await waitUntil(() => bus.published.some((p) => p.event.subject === order!.orderId), {
      timeoutMs: 5_000,
      message: "OrderCreated published",
    });
  });

  it("when stock is missing, then FAILED_PRECONDITION and nothing is stored", async () => {
    const err = await grpcError(client.createOrder({ ...espresso(), lines: [{ productId: "sku-rare", quantity: 5 }] }));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain("sku-rare");
    expect(count("orders")).toBe(0);
    expect(count("outbox")).toBe(0);
  });

  it.each([
    ["a zero quantity", { lines: [{ productId: "sku-espresso", quantity: 0 }] }, "lines[0].quantity: must be between 1 and 1000"],
    [
      "a negative quantity",
      {
        lines: [
          { productId: "sku-espresso", quantity: 1 },
          { productId: "sku-croissant", quantity: -1 },
        ],
      },
      "lines[1].quantity:",
    ],
    ["no customer", { customerId: "" }, "customer_id: is required"],
    [
      "a product inventory does not know",
      {
        lines: [
          { productId: "sku-espresso", quantity: 1 },
          { productId: "sku-nope", quantity: 1 },
        ],
      },
      "lines[1].product_id:",
    ],
    [
      "a product twice",
      {
        lines: [
          { productId: "sku-espresso", quantity: 1 },
          { productId: "sku-espresso", quantity: 1 },
        ],
      },
      "lines[1].product_id:",
    ],
  ])("when the request has %s, then INVALID_ARGUMENT names the field and nothing is written", async (_, overrides, message) => {
    const err = await grpcError(client.createOrder({ ...espresso(), ...overrides }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details.startsWith(message)).toBe(true);
    expect(count("orders")).toBe(0);
    expect(count("outbox")).toBe(0);
    expect(count("idempotency_keys")).toBe(0);
  });

  it("when products are priced in two currencies, then FAILED_PRECONDITION and the reservation is released", async () => {
    const request = {
      ...espresso(),
      lines: [
        { productId: "sku-espresso", quantity: 1 },
        { productId: "sku-dollar", quantity: 1 },
      ],
    };
    const err = await grpcError(client.createOrder(request));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(count("orders")).toBe(0);
    expect(inventory.released).toHaveLength(1);
  });

  it("when quantity times the catalog price exceeds the largest amount an order holds, then INVALID_ARGUMENT naming the line, not INTERNAL, and the reservation is released", async () => {
    const releasedBefore = inventory.released.length;
    const err = await grpcError(client.createOrder({ ...espresso(), lines: [{ productId: "sku-yacht", quantity: 2 }] }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^lines\[0\]\.quantity: 2 × 9007199254740991 EUR exceeds the largest amount an order can hold/);
    expect(count("orders")).toBe(0);
    expect(inventory.released.length).toBe(releasedBefore + 1);
  });
});

describe("CreateOrder compensation and deadlines", () => {
  it("when storing the order fails after stock was reserved, then the reservation is released and nothing is stored", async () => {
    service.db.exec(`CREATE TRIGGER outbox_full BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    const releasedBefore = inventory.released.length;
    const err = await grpcError(client.createOrder(espresso()));
    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toBe("internal error");
    expect(count("orders")).toBe(0);
    expect(inventory.released.length).toBe(releasedBefore + 1);
  });

  it("when the caller's deadline is shorter than the reservation's, then it bounds the reservation, and the late reservation is released", async () => {
    inventory.delayMs = 1_000;
    const releasedBefore = inventory.released.length;
    const started = Date.now();
    const err = await grpcError(client.createOrder(espresso(), { timeoutMs: 300 }));
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(900);
    expect(count("orders")).toBe(0);
    // Inventory may hold stock whose answer nobody waited for: the order service gives it back, once, after the
    // reservation can no longer be on its way (a release sooner could overtake it and have to be repeated).
    await waitUntil(() => inventory.released.length > releasedBefore && count("stock_holds") === 0, {
      timeoutMs: 5_000,
      message: "the timed-out reservation to be released",
    });
    const released = inventory.released.slice(releasedBefore);
    expect(released).toHaveLength(1);
    expect(inventory.reservations.has(released[0]!)).toBe(true);
  });
});

describe("CreateOrder idempotency", () => {
  it("when the same key and body come twice, then the same order comes back and one event is written", async () => {
    const metadata = { "idempotency-key": `key-${crypto.randomUUID()}` };
    const first = await client.createOrder(espresso(), { metadata });
    const second = await client.createOrder(espresso(), { metadata });
    expect(second.order?.orderId).toBe(first.order?.orderId);
    expect(count("orders")).toBe(1);
    expect(count("outbox")).toBe(1);
  });

  it("when the same key comes with a different body, then INVALID_ARGUMENT on idempotency-key", async () => {
    const metadata = { "idempotency-key": `key-${crypto.randomUUID()}` };
    await client.createOrder(espresso(1), { metadata });
    const err = await grpcError(client.createOrder(espresso(3), { metadata }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^idempotency-key:/);
    expect(count("orders")).toBe(1);
  });

  it("when 10 duplicates arrive at once, then one order is created and all get it", async () => {
    inventory.delayMs = 100; // keep the first in flight while the others arrive
    const metadata = { "idempotency-key": `key-${crypto.randomUUID()}` };
    const results = await Promise.all(Array.from({ length: 10 }, () => client.createOrder(espresso(), { metadata })));
    expect(new Set(results.map((r) => r.order?.orderId)).size).toBe(1);
    expect(count("orders")).toBe(1);
    expect(count("outbox")).toBe(1);
  });
});

describe("CreateOrder when inventory misbehaves", () => {
  it("when the ReserveStock stream breaks mid-flight, then it is reopened and the order still completes", async () => {
    await client.createOrder(espresso(1)); // the stream is open
    const streamsBefore = inventory.streamsOpened;
    inventory.breakNextStream = true;
    const { order } = await client.createOrder(espresso(1));
    expect(order?.status).toBe(OrderStatus.AWAITING_PAYMENT);
    expect(inventory.streamsOpened).toBeGreaterThan(streamsBefore);
    expect(count("orders")).toBe(2);
  });

  it("when inventory restarts on the same port while a reservation is in flight, then the order still completes", async () => {
    await client.createOrder(espresso(1)); // the stream is open
    inventory.delayMs = 300;
    const requestsBefore = inventory.requests;
    const pending = client.createOrder(espresso(1));
    await waitUntil(() => inventory.requests > requestsBefore, { timeoutMs: 5_000, message: "the reservation to reach inventory" });
    inventory.stop();
    await inventory.start(inventory.port);
    const { order } = await pending;
    expect(order?.status).toBe(OrderStatus.AWAITING_PAYMENT);
    expect(count("orders")).toBe(2);
  });

  it("when inventory is down, then UNAVAILABLE comes quickly, then at once from the breaker, and no order is stored", async () => {
    const down = new FakeInventory();
    await down.start();
    const address = down.address;
    down.stop();
    const other = await startTestOrderService(
      { INVENTORY_ADDR: address },
      { bus: new MemoryBus(), reserver: { breakerThreshold: 2, halfOpenAfterMs: 60_000 } },
    );
    const otherClient = createClient(OrderService, other.address, { defaultTimeoutMs: 10_000 });
    try {
      const started = Date.now();
      const first = await grpcError(otherClient.createOrder(espresso()));
      expect(first.code).toBe(status.UNAVAILABLE);
      expect(Date.now() - started).toBeLessThan(1_500); // before the 1.5 s reservation deadline
      await grpcError(otherClient.createOrder(espresso()));
      const fast = Date.now();
      const broken = await grpcError(otherClient.createOrder(espresso()));
      expect(broken.code).toBe(status.UNAVAILABLE);
      expect(broken.details).toContain("circuit open");
      expect(Date.now() - fast).toBeLessThan(200);
      expect((other.db.prepare(`SELECT count(*) AS n FROM orders`).get() as { n: number }).n).toBe(0);
    } finally {
      otherClient.close();
      await other.dispose();
    }
  });
});

describe("CreateOrder and the inventory circuit breaker", () => {
  it("when callers give up early (short deadlines and cancels), then the breaker stays closed and the next CreateOrder succeeds", async () => {
    // Arrange: inventory answers, just later than these callers are willing to wait.
    inventory.delayMs = 150;

    // Act: more impatient callers than the breaker's threshold (3), by deadline and by cancel.
    const deadlines = Array.from({ length: 4 }, () => grpcError(client.createOrder(espresso(1), { timeoutMs: 50 })));
    const cancels = Array.from({ length: 2 }, () => {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 50);
      return grpcError(client.createOrder(espresso(1), { signal: abort.signal }));
    });
    const failures = await Promise.all([...deadlines, ...cancels]);
    inventory.delayMs = 0;

    // Assert
    expect(failures.slice(0, 4).map((f) => f.code)).toEqual([4, 4, 4, 4].map(() => status.DEADLINE_EXCEEDED));
    expect(failures.slice(4).map((f) => f.code)).toEqual([status.CANCELLED, status.CANCELLED]);
    const { order } = await client.createOrder(espresso(1));
    expect(order?.status).toBe(OrderStatus.AWAITING_PAYMENT);
  });

  it("when inventory itself does not answer within RESERVE_TIMEOUT_MS, then the breaker opens, the error names it and when to retry, and health stays SERVING", async () => {
    // Arrange: slower than the service's own reservation bound (1.5 s in these tests).
    inventory.delayMs = 2_000;
    const health = createHealthClient(service.address);
    try {
      // Act: as many failures as the threshold (3), each bounded by the service, not by the caller.
      const slow = await Promise.all(Array.from({ length: 3 }, () => grpcError(client.createOrder(espresso(1)))));
      const broken = await grpcError(client.createOrder(espresso(1)));

      // Assert
      expect(slow.map((f) => f.code)).toEqual(slow.map(() => status.DEADLINE_EXCEEDED));
      expect(broken.code).toBe(status.UNAVAILABLE);
      expect(broken.details).toMatch(/^inventory circuit open: .+; retry after \d+ s$/);
      // Reads, cancels and payment events do not need inventory: the service as a whole keeps serving.
      expect(await checkHealth(service.address, { client: health })).toBe("SERVING");
      expect(await checkHealth(service.address, { client: health, service: OrderService.typeName })).toBe("SERVING");
    } finally {
      health.close();
    }
  });
});

describe("GetOrder and ListOrders", () => {
  it("when the order does not exist, then NOT_FOUND", async () => {
    expect((await grpcError(client.getOrder({ orderId: "nope" }))).code).toBe(status.NOT_FOUND);
  });

  it("lists newest first, filters, and pages with a token", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await client.createOrder({ ...espresso(1), customerId: "pager" })).order!.orderId);
    await client.createOrder({ ...espresso(1), customerId: "someone-else" });
    const first = await client.listOrders({ customerId: "pager", pageSize: 2 });
    const second = await client.listOrders({ customerId: "pager", pageSize: 2, pageToken: first.nextPageToken });
    const third = await client.listOrders({ customerId: "pager", pageSize: 2, pageToken: second.nextPageToken });
    const seen = [...first.orders, ...second.orders, ...third.orders].map((o) => o.orderId);
    expect(seen).toEqual([...ids].reverse());
    expect(third.nextPageToken).toBe("");
    const confirmedOnly = await client.listOrders({ customerId: "pager", status: OrderStatus.CONFIRMED });
    expect(confirmedOnly.orders).toHaveLength(0);
    const err = await grpcError(client.listOrders({ customerId: "other", pageToken: first.nextPageToken }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
  });
});

describe("CancelOrder", () => {
  it("when an order awaiting payment is cancelled, then it is CANCELLED and OrderCancelled has no payment id", async () => {
    const { order } = await client.createOrder(espresso());
    const { order: cancelled } = await client.cancelOrder({ orderId: order!.orderId, reason: "changed my mind" });
    expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
    expect(cancelled?.cancelReason).toBe("changed my mind");
    expect(outboxTypes()).toEqual(["shop.order.v1.OrderCreated", "shop.order.v1.OrderCancelled", "shop.notification.v1.SendOrderEmail"]);
    const row = service.db.prepare(`SELECT payload FROM outbox WHERE kind = 'event' ORDER BY seq DESC LIMIT 1`).get() as {
      payload: Buffer;
    };
    const event = decodeEvent(OrderCancelledSchema, { type: "shop.order.v1.OrderCancelled", data: new Uint8Array(row.payload) });
    expect(event.paymentId).toBe("");
    // Cancelling again changes nothing.
    const again = await client.cancelOrder({ orderId: order!.orderId });
    expect(again.order?.status).toBe(OrderStatus.CANCELLED);
    expect(count("outbox")).toBe(3);
  });

  it("when a confirmed order is cancelled, then OrderCancelled carries the payment id to refund", async () => {
    const { order } = await client.createOrder(espresso());
    await deliverPayment(PaymentAuthorizedSchema, { paymentId: "pay-1", orderId: order!.orderId, authorizeTime: timestampNow() });
    const { order: cancelled } = await client.cancelOrder({ orderId: order!.orderId });
    expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
    const row = service.db.prepare(`SELECT payload FROM outbox WHERE kind = 'event' ORDER BY seq DESC LIMIT 1`).get() as {
      payload: Buffer;
    };
    expect(decodeEvent(OrderCancelledSchema, { type: "shop.order.v1.OrderCancelled", data: new Uint8Array(row.payload) }).paymentId).toBe(
      "pay-1",
    );
  });
});

describe("customer emails: order decides, the outbox sends a command", () => {
  interface CommandRow {
    kind: string;
    topic: string;
    event_id: string;
    event_type: string;
    traceparent: string | null;
    payload: Buffer;
    state: string;
  }
  const commandRows = (orderId: string) =>
    service.db
      .prepare<[string], CommandRow>(
        `SELECT kind, topic, event_id, event_type, traceparent, payload, state FROM outbox WHERE subject = ? AND kind = 'command' ORDER BY seq`,
      )
      .all(orderId);
  const emailOf = (row: CommandRow) => decodeCommand(SendOrderEmailSchema, { type: row.event_type, data: new Uint8Array(row.payload) });

  it("when a payment confirms an order, then SendOrderEmail CONFIRMED is in its outbox and the command relay sends it to notification.email, in the writer's trace", async () => {
    const { order } = await client.createOrder(espresso(3));
    await deliverPayment(PaymentAuthorizedSchema, { paymentId: "pay-9", orderId: order!.orderId, authorizeTime: timestampNow() });

    const [row, ...more] = commandRows(order!.orderId);
    expect(more).toEqual([]);
    expect(row).toMatchObject({ kind: "command", topic: "notification.email", event_type: "shop.notification.v1.SendOrderEmail" });
    expect(emailOf(row!)).toMatchObject({
      orderId: order!.orderId,
      customerId: "cust-1",
      kind: OrderEmailKind.CONFIRMED,
      total: order!.total,
      reason: "",
    });
    const sent = await waitUntil(() => commands.sent.find((s) => s.command.id === row!.event_id), { message: "the command sent" });
    expect(sent.queue).toBe("notification.email");
    // The send is a child of the span that wrote the row: same trace, another span.
    expect(parseTraceparent(sent.command.traceparent)?.traceId).toBe(parseTraceparent(row!.traceparent ?? undefined)?.traceId);
    expect(sent.command.traceparent).not.toBe(row!.traceparent);
    await waitUntil(() => commandRows(order!.orderId)[0]?.state === "PUBLISHED", { message: "the command row PUBLISHED" });
    // The events went to the event bus, the command did not.
    expect(bus.published.map((p) => p.event.type)).not.toContain("shop.notification.v1.SendOrderEmail");
  });

  it("when order runs with COMMAND_BUS=off (no notification service), then it confirms orders and writes no commands", async () => {
    const offBus = new MemoryBus();
    const off = await startTestOrderService({ INVENTORY_ADDR: inventory.address, COMMAND_BUS: "off" }, { bus: offBus });
    const offClient = createClient(OrderService, off.address, { defaultTimeoutMs: 10_000 });
    try {
      const { order } = await offClient.createOrder(espresso());
      const message = create(PaymentAuthorizedSchema, { paymentId: "pay-off", orderId: order!.orderId });
      await offBus.deliver(
        Topics.paymentEvents,
        toOutgoingEvent(PaymentAuthorizedSchema, message, { source: "test", subject: order!.orderId }),
      );

      expect((await offClient.getOrder({ orderId: order!.orderId })).order?.status).toBe(OrderStatus.CONFIRMED);
      expect(off.db.prepare(`SELECT count(*) AS n FROM outbox WHERE kind = 'command'`).pluck().get()).toBe(0);
    } finally {
      offClient.close();
      await off.dispose();
    }
  });

  it("when an order is cancelled (declined, then by the customer), then each cancellation's email carries its reason, and a no-op cancel writes none", async () => {
    const { order } = await client.createOrder(espresso());
    await deliverPayment(PaymentDeclinedSchema, { paymentId: "pay-8", orderId: order!.orderId, reason: "card declined" });
    await client.cancelOrder({ orderId: order!.orderId, reason: "too late" });

    expect(
      commandRows(order!.orderId)
        .map(emailOf)
        .map((e) => [e.kind, e.reason]),
    ).toEqual([[OrderEmailKind.CANCELLED, "payment declined: card declined"]]);
  });
});

describe("payment events", () => {
  it("when a payment is declined, then the order is cancelled with the reason", async () => {
    const { order } = await client.createOrder(espresso());
    await deliverPayment(PaymentDeclinedSchema, { paymentId: "pay-2", orderId: order!.orderId, reason: "card declined" });
    const { order: after } = await client.getOrder({ orderId: order!.orderId });
    expect(after?.status).toBe(OrderStatus.CANCELLED);
    expect(after?.cancelReason).toBe("payment declined: card declined");
    expect(outboxTypes()).toEqual(["shop.order.v1.OrderCreated", "shop.order.v1.OrderCancelled", "shop.notification.v1.SendOrderEmail"]);
  });

  it("when the same event is delivered twice, then it has its effect once", async () => {
    const { order } = await client.createOrder(espresso());
    const message = create(PaymentAuthorizedSchema, { paymentId: "pay-3", orderId: order!.orderId });
    const event = toOutgoingEvent(PaymentAuthorizedSchema, message, { source: "test", subject: order!.orderId });
    await bus.deliver(Topics.paymentEvents, event);
    await bus.deliver(Topics.paymentEvents, event);
    expect(outboxTypes()).toEqual(["shop.order.v1.OrderCreated", "shop.order.v1.OrderConfirmed", "shop.notification.v1.SendOrderEmail"]);
  });

  it("when a payment names an unknown order, then it is skipped", async () => {
    await deliverPayment(PaymentAuthorizedSchema, { paymentId: "pay-4", orderId: "unknown-order" });
    expect(count("outbox")).toBe(0);
  });
});

describe("WatchOrder", () => {
  it("sends the current state, then CONFIRMED after the payment, and ends", async () => {
    const { order } = await client.createOrder(espresso());
    const seen: OrderStatus[] = [];
    const watching = (async () => {
      for await (const message of client.watchOrder({ orderId: order!.orderId })) seen.push(message.order!.status);
    })();
    await waitUntil(() => seen.length === 1, { timeoutMs: 5_000, message: "the current state" });
    await deliverPayment(PaymentAuthorizedSchema, { paymentId: "pay-5", orderId: order!.orderId });
    await watching; // the stream ends by itself after the terminal state
    expect(seen).toEqual([OrderStatus.AWAITING_PAYMENT, OrderStatus.CONFIRMED]);
  });

  it("when the order is unknown, then NOT_FOUND", async () => {
    const err = await grpcError(
      (async () => {
        for await (const _ of client.watchOrder({ orderId: "nope" })) void _;
      })(),
    );
    expect(err.code).toBe(status.NOT_FOUND);
  });
});
