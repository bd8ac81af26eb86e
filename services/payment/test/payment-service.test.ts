// In-process tests: the real gRPC server on port 0 and a typed client, over a real (temporary) SQLite database.
// No Kafka here: payments are seeded through the same use case the OrderCreated handler calls, and the events a
// refund emits are read from the outbox, where the transaction put them.
import { fromBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentRefundedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { PaymentService, PaymentStatus } from "#gen/shop/payment/v1/payment_service_pb.js";
import { bindServer, createClient, shutdownServer, type GrpcServer, type ServiceClient } from "#shared/grpc/index.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import { createServer } from "../src/server.js";
import { checkHealth } from "#shared/grpc/health-client.js";
import { openTestPayments, type TestPayments } from "./payments-fixture.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("PaymentService over gRPC", () => {
  let fixture: TestPayments;
  let db: SqliteDatabase;
  let grpc: GrpcServer;
  let client: ServiceClient<typeof PaymentService>;
  let address: string;

  beforeAll(async () => {
    fixture = openTestPayments();
    db = fixture.db;
    grpc = createServer({ payments: fixture.payments });
    const port = await bindServer(grpc.server, "127.0.0.1:0");
    address = `127.0.0.1:${port}`;
    client = createClient(PaymentService, address, { defaultTimeoutMs: 5_000 });
  });

  afterAll(async () => {
    client.close();
    await shutdownServer(grpc.server, grpc.health, { graceMs: 1_000 });
    fixture.close();
  });

  const charge = (...args: Parameters<TestPayments["charge"]>) => fixture.charge(...args);

  async function codeOf(call: Promise<unknown>): Promise<{ code: number; details: string }> {
    const error = (await call.then(
      () => undefined,
      (e: unknown) => e,
    )) as { code: number; details: string } | undefined;
    if (!error) throw new Error("expected the call to fail");
    return { code: error.code, details: error.details };
  }

  function outboxEventsOf(orderId: string): { event_type: string; payload: Buffer; traceparent: string | null }[] {
    return db
      .prepare<[string], { event_type: string; payload: Buffer; traceparent: string | null }>(
        "SELECT event_type, payload, traceparent FROM outbox WHERE subject = ? ORDER BY seq",
      )
      .all(orderId);
  }

  it("when a payment exists, then GetPayment returns it with its amount, status and card digits", async () => {
    const seeded = charge("tok_visa_4242", 1_999n);

    const { payment } = await client.getPayment({ paymentId: seeded.paymentId });

    expect(payment).toMatchObject({
      paymentId: seeded.paymentId,
      orderId: seeded.orderId,
      status: PaymentStatus.AUTHORIZED,
      cardLast4: "4242",
      declineReason: "",
      amount: { currencyCode: "EUR", amountMinor: 1_999n },
    });
    expect(payment?.createTime).toBeDefined();
  });

  it("when the payment does not exist, then GetPayment is NOT_FOUND", async () => {
    const failure = await codeOf(client.getPayment({ paymentId: crypto.randomUUID() }));
    expect(failure.code).toBe(status.NOT_FOUND);
  });

  it("when payment_id is missing or not a UUID, then INVALID_ARGUMENT names the field", async () => {
    expect(await codeOf(client.getPayment({ paymentId: "" }))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "payment_id: required",
    });
    expect(await codeOf(client.refundPayment({ paymentId: "42" }))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "payment_id: must be a UUID",
    });
  });

  it("when listing with a small page size, then pages go newest first and end without a token", async () => {
    const seeded = [charge("tok_a"), charge("tok_b"), charge("tok_c")].map((p) => p.paymentId);

    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await client.listPayments({ pageSize: 2, pageToken });
      expect(page.payments.length).toBeLessThanOrEqual(2);
      seen.push(...page.payments.map((p) => p.paymentId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "" && pages < 100);

    // Newest first: the three just seeded lead, in reverse order of creation; nothing repeats across pages.
    expect(seen.slice(0, 3)).toEqual([...seeded].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    const all = await client.listPayments({ pageSize: 200 });
    expect(all.payments.map((p) => p.paymentId)).toEqual(seen);
    expect(all.nextPageToken).toBe("");
  });

  it("when filtering by order_id, then only that order's payment is listed", async () => {
    const mine = charge("tok_visa");
    charge("tok_visa");

    const page = await client.listPayments({ orderId: mine.orderId });

    expect(page.payments.map((p) => p.paymentId)).toEqual([mine.paymentId]);
    expect(page.nextPageToken).toBe("");
  });

  it("when a page token is reused with another filter or tampered with, then INVALID_ARGUMENT names page_token", async () => {
    charge("tok_x");
    charge("tok_y");
    const first = await client.listPayments({ pageSize: 1 });

    const otherFilter = await codeOf(client.listPayments({ pageSize: 1, pageToken: first.nextPageToken, orderId: crypto.randomUUID() }));
    const garbage = await codeOf(client.listPayments({ pageToken: "not-a-token" }));
    const negative = await codeOf(client.listPayments({ pageSize: -1 }));

    expect(otherFilter).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^page_token: /) });
    expect(garbage).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^page_token: /) });
    expect(negative).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^page_size: /) });
  });

  it("when an authorized payment is refunded, then it is REFUNDED and a PaymentRefunded event is recorded", async () => {
    const seeded = charge("tok_visa", 4_200n);

    const { payment } = await client.refundPayment(
      { paymentId: seeded.paymentId, reason: "customer asked" },
      { metadata: { traceparent: TRACEPARENT } },
    );

    expect(payment?.status).toBe(PaymentStatus.REFUNDED);
    expect((await client.getPayment({ paymentId: seeded.paymentId })).payment?.status).toBe(PaymentStatus.REFUNDED);
    const events = outboxEventsOf(seeded.orderId);
    expect(events.map((e) => e.event_type)).toEqual(["shop.payment.v1.PaymentAuthorized", "shop.payment.v1.PaymentRefunded"]);
    const refundedEvent = fromBinary(PaymentRefundedSchema, events[1]!.payload);
    expect(refundedEvent).toMatchObject({
      paymentId: seeded.paymentId,
      orderId: seeded.orderId,
      amount: { currencyCode: "EUR", amountMinor: 4_200n },
    });
    // The event is a child span of the call, in the caller's trace.
    expect(events[1]!.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/);
  });

  it("when a refunded payment is refunded again, then it comes back unchanged and no second event is recorded", async () => {
    const seeded = charge("tok_visa");
    const first = await client.refundPayment({ paymentId: seeded.paymentId });

    const second = await client.refundPayment({ paymentId: seeded.paymentId });

    expect(second.payment).toEqual(first.payment);
    expect(outboxEventsOf(seeded.orderId).filter((e) => e.event_type.endsWith("PaymentRefunded"))).toHaveLength(1);
  });

  it("when a declined payment is refunded, then it is FAILED_PRECONDITION and nothing changes", async () => {
    const seeded = charge("tok_decline");
    expect(seeded.status).toBe("DECLINED");

    const failure = await codeOf(client.refundPayment({ paymentId: seeded.paymentId }));

    expect(failure.code).toBe(status.FAILED_PRECONDITION);
    const { payment } = await client.getPayment({ paymentId: seeded.paymentId });
    expect(payment).toMatchObject({ status: PaymentStatus.DECLINED, declineReason: "card declined" });
    expect(outboxEventsOf(seeded.orderId).map((e) => e.event_type)).toEqual(["shop.payment.v1.PaymentDeclined"]);
  });

  it("when an unknown payment is refunded, then it is NOT_FOUND", async () => {
    expect((await codeOf(client.refundPayment({ paymentId: crypto.randomUUID() }))).code).toBe(status.NOT_FOUND);
  });

  it("when the server is built but the service not started, then health says NOT_SERVING", async () => {
    // createServer alone has no consumer yet: the app turns health SERVING only after bind + group join.
    expect(await checkHealth(address)).toBe("NOT_SERVING");
  });
});
