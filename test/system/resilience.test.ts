/**
 * System tests of failures: a service killed without warning, and the broker itself stopped, while orders are being
 * created. Whatever happens, every order completes and every business event exists exactly once (counted by ce_id;
 * at-least-once delivery may repeat a message, never invent a second event), with one payment per order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StockCommittedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { OrderConfirmedSchema, OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { OrderStatus, type Order } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentAuthorizedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { kafkaScript } from "../../scripts/mesh/broker.js";
import { availableOf, createOrder, createProduct, orderOf, waitForStatus } from "./fixtures.js";
import { Mesh } from "./mesh.js";

const FLOW_TYPES = [
  OrderCreatedSchema.typeName,
  PaymentAuthorizedSchema.typeName,
  StockCommittedSchema.typeName,
  OrderConfirmedSchema.typeName,
];

/** KAFKA_SCRIPT_MS bounds each scripts/kafka.sh call. */
const KAFKA_SCRIPT_MS = 180_000;

let mesh: Mesh;

beforeAll(async () => {
  mesh = await Mesh.start();
});

afterAll(async () => {
  await mesh?.stop();
});

/**
 * expectEachEventOnce asserts, for every order, one distinct event id per flow event type and one payment: nothing
 * lost, nothing doubled. It returns how many messages were physical repeats of an id, for the record.
 */
async function expectEachEventOnce(orders: readonly Order[]): Promise<number> {
  let repeats = 0;
  for (const order of orders) {
    const events = await mesh.events.waitForTypes(order.orderId, FLOW_TYPES, { timeoutMs: 60_000 });
    for (const type of FLOW_TYPES) {
      const ofType = events.filter((e) => e.type === type);
      expect(new Set(ofType.map((e) => e.id)).size, `${type} events of order ${order.orderId}`).toBe(1);
      repeats += ofType.length - 1;
    }
    const { payments } = await mesh.payment.listPayments({ orderId: order.orderId });
    expect(payments, `payments of order ${order.orderId}`).toHaveLength(1);
  }
  return repeats;
}

/** brokerPort is the local broker's port, when KAFKA_BROKERS names one broker on this machine. */
function brokerPort(brokers: string): string | undefined {
  const match = /^(?:127\.0\.0\.1|localhost):(\d+)$/.exec(brokers.trim());
  return match?.[1];
}

describe("failures while orders are created", () => {
  it("when payment is killed with SIGKILL right after orders are created, then after its restart every order completes once", async () => {
    // Arrange
    const productId = await createProduct(mesh, 20);

    // Act
    const orders = await Promise.all(Array.from({ length: 5 }, () => createOrder(mesh, orderOf(productId, 1))));
    await mesh.kill("payment", "SIGKILL");
    await mesh.restart("payment");

    // Assert
    for (const order of orders) await waitForStatus(mesh, order.orderId, OrderStatus.CONFIRMED, 60_000);
    const repeats = await expectEachEventOnce(orders);
    expect(await availableOf(mesh, productId)).toBe(15);
    console.log(`[resilience] SIGKILL: ${repeats} redelivered message(s), deduplicated by ce_id`);
  }, 180_000);

  it("when the broker is stopped while orders are created, then they are accepted and after its restart every event arrives once", async () => {
    // Arrange
    const port = brokerPort(mesh.brokers);
    const status = port === undefined ? undefined : await kafkaScript("status", { port, timeoutMs: KAFKA_SCRIPT_MS });
    if (port === undefined || !status?.output.includes("started by kafka.sh")) {
      throw new Error(
        `this test stops and restarts the broker, which only works with a broker run by scripts/kafka.sh on this ` +
          `machine; the suite uses ${mesh.brokers} (${status?.output.trim() ?? "not a local address"}). ` +
          `Run it without KAFKA_BROKERS and without Docker (the global setup then uses scripts/kafka.sh), or point ` +
          `KAFKA_BROKERS at a broker started with \`KAFKA_PORT=<port> bash scripts/kafka.sh start\`.`,
      );
    }
    const productId = await createProduct(mesh, 20);

    // Act
    const stopped = await kafkaScript("stop", { port, timeoutMs: KAFKA_SCRIPT_MS });
    expect(stopped.code, stopped.output).toBe(0);
    let orders: Order[];
    try {
      orders = await Promise.all(Array.from({ length: 4 }, () => createOrder(mesh, orderOf(productId, 2))));
    } finally {
      const started = await kafkaScript("start", { port, timeoutMs: KAFKA_SCRIPT_MS });
      expect(started.code, started.output).toBe(0);
    }

    // Assert
    expect(orders.map((o) => o.status)).toEqual(orders.map(() => OrderStatus.AWAITING_PAYMENT));
    for (const order of orders) await waitForStatus(mesh, order.orderId, OrderStatus.CONFIRMED, 120_000);
    const repeats = await expectEachEventOnce(orders);
    expect(await availableOf(mesh, productId)).toBe(12);
    console.log(`[resilience] broker outage: ${repeats} redelivered message(s), deduplicated by ce_id`);
  }, 300_000);
});
