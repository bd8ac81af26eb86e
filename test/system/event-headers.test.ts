/**
 * System test of the one outgoing-event builder: orders placed and cancelled by a client that sends no `traceparent`
 * (as grpcurl sends none), and every record all three services then produce carries `traceparent` and the
 * CloudEvents headers, with `ce_source` following `shopmesh/<service>`; the events one cause led to share its trace.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StockCommittedSchema, StockReleasedSchema, StockReservedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { OrderCancelledSchema, OrderConfirmedSchema, OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentAuthorizedSchema, PaymentDeclinedSchema, PaymentRefundedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { Topics } from "#shared/events/topics.js";
import type { RecordedEvent } from "./event-log.js";
import { createOrder, createProduct, orderOf, RFC3339_PATTERN, UUID_PATTERN, waitForStatus } from "./fixtures.js";
import { Mesh } from "./mesh.js";

const TRACEPARENT_PATTERN = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/;
const SOURCE_OF_TOPIC: Record<string, string> = {
  [Topics.orderEvents]: "shopmesh/order",
  [Topics.paymentEvents]: "shopmesh/payment",
  [Topics.inventoryEvents]: "shopmesh/inventory",
};

let mesh: Mesh;

beforeAll(async () => {
  mesh = await Mesh.start();
});

afterAll(async () => {
  await mesh?.stop();
});

function traceIdOf(event: RecordedEvent | undefined): string | undefined {
  return TRACEPARENT_PATTERN.exec(event?.headers["traceparent"] ?? "")?.[1];
}

/** traceIdsByType maps each event type about an order to the trace ids its events carry (a redelivery counted once). */
function traceIdsByType(events: readonly RecordedEvent[]): Record<string, string[]> {
  const byType: Record<string, string[]> = {};
  const unique = new Map(events.map((event) => [event.id, event]));
  for (const event of unique.values()) {
    const name = event.type.split(".").pop()!;
    byType[name] ??= [];
    byType[name].push(traceIdOf(event) ?? "none");
  }
  return byType;
}

describe("event headers across the mesh", () => {
  it("when orders are placed, paid, declined and cancelled without a traceparent, then every record on the three topics carries traceparent and the CloudEvents headers, and each cause's events share its trace", async () => {
    // Arrange
    const productId = await createProduct(mesh, 10);

    // Act: one order paid then cancelled (a refund), one declined; the client sends no traceparent
    const paid = await createOrder(mesh, orderOf(productId, 1));
    const declined = await createOrder(mesh, orderOf(productId, 1, { cardToken: "tok_decline" }));
    await waitForStatus(mesh, paid.orderId, OrderStatus.CONFIRMED);
    await mesh.order.cancelOrder({ orderId: paid.orderId, reason: "changed my mind" });
    await waitForStatus(mesh, declined.orderId, OrderStatus.CANCELLED);
    const paidEvents = await mesh.events.waitForTypes(paid.orderId, [
      OrderCreatedSchema.typeName,
      StockReservedSchema.typeName,
      PaymentAuthorizedSchema.typeName,
      StockCommittedSchema.typeName,
      OrderConfirmedSchema.typeName,
      OrderCancelledSchema.typeName,
      PaymentRefundedSchema.typeName,
      StockReleasedSchema.typeName,
    ]);
    const declinedEvents = await mesh.events.waitForTypes(declined.orderId, [
      OrderCreatedSchema.typeName,
      PaymentDeclinedSchema.typeName,
      OrderCancelledSchema.typeName,
      StockReleasedSchema.typeName,
    ]);

    // Assert: every record, whoever produced it
    for (const topic of Object.values(Topics)) {
      const records = await mesh.events.read(topic);
      expect(records.length, `records on ${topic}`).toBeGreaterThan(0);
      for (const record of records) {
        const where = `${topic} ${record.type} offset ${record.partition}/${record.offset}`;
        expect(record.headers, where).toMatchObject({
          ce_specversion: "1.0",
          ce_id: expect.stringMatching(UUID_PATTERN),
          ce_type: expect.stringMatching(/^shop\.\w+\.v1\.\w+$/),
          ce_source: SOURCE_OF_TOPIC[topic],
          ce_time: expect.stringMatching(RFC3339_PATTERN),
          ce_subject: record.key,
          "content-type": "application/protobuf",
          traceparent: expect.stringMatching(TRACEPARENT_PATTERN),
        });
      }
    }

    // Assert: a cause's events continue its trace. The order's creation leads to its payment, the stock committed
    // and the confirmation; the cancel RPC to the refund and the stock given back; a decline to the cancellation
    // and the stock released. (StockReserved is written on the long-lived ReserveStock stream, which carries no
    // one order's trace: it has a traceparent of its own.)
    const paidTraces = traceIdsByType(paidEvents);
    const created = paidTraces["OrderCreated"]![0]!;
    expect(paidTraces).toMatchObject({
      PaymentAuthorized: [created],
      StockCommitted: [created],
      OrderConfirmed: [created],
    });
    const cancelled = paidTraces["OrderCancelled"]![0]!;
    expect(cancelled).not.toBe(created);
    expect(paidTraces).toMatchObject({ PaymentRefunded: [cancelled], StockReleased: [cancelled] });

    const declinedTraces = traceIdsByType(declinedEvents);
    const declinedCreated = declinedTraces["OrderCreated"]![0]!;
    expect(declinedCreated).not.toBe(created);
    expect(declinedTraces).toMatchObject({
      PaymentDeclined: [declinedCreated],
      OrderCancelled: [declinedCreated],
      StockReleased: [declinedCreated],
    });
  }, 120_000);
});
