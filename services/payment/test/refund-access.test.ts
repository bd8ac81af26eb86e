// RefundPayment is the shop's decision, not a customer's: a call that acts for a principal (the gateway's
// PRINCIPAL_HEADERS) needs the admin scope. Calls without a principal (order's compensation path, operators) are
// judged by the access policy alone. Real gRPC server on port 0, real SQLite.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentService, PaymentStatus } from "#gen/shop/payment/v1/payment_service_pb.js";
import { bindServer, createClient, shutdownServer, type GrpcServer, type ServiceClient } from "#shared/grpc/index.js";
import { ADMIN_SCOPE, PRINCIPAL_HEADERS } from "#shared/security/principal.js";
import { capturingLogger } from "../../shared/test/fixtures/capturing-logger.js";
import { createServer } from "../src/server.js";
import { openTestPayments, type TestPayments } from "./payments-fixture.js";

const { logger, lines } = capturingLogger();
const as = (subject: string, scopes: string) => ({
  metadata: { [PRINCIPAL_HEADERS.subject]: subject, [PRINCIPAL_HEADERS.scopes]: scopes },
});

let fixture: TestPayments;
let grpc: GrpcServer;
let client: ServiceClient<typeof PaymentService>;

beforeAll(async () => {
  fixture = openTestPayments(logger);
  grpc = createServer({ payments: fixture.payments });
  const port = await bindServer(grpc.server, "127.0.0.1:0");
  client = createClient(PaymentService, `127.0.0.1:${port}`, { defaultTimeoutMs: 5_000 });
});

afterAll(async () => {
  client.close();
  await shutdownServer(grpc.server, grpc.health, { graceMs: 1_000 });
  fixture.close();
});

describe("RefundPayment for a principal", () => {
  it("when a customer (no admin scope) asks for a refund, then PERMISSION_DENIED, logged once, and nothing changes", async () => {
    const seeded = fixture.charge("tok_visa");

    const error = await client.refundPayment({ paymentId: seeded.paymentId }, as("alice", "orders:write")).then(
      () => undefined,
      (e: { code: number; details: string }) => e,
    );

    expect(error?.code).toBe(status.PERMISSION_DENIED);
    expect(error?.details).toContain(ADMIN_SCOPE);
    expect(fixture.payments.get(seeded.paymentId).status).toBe("AUTHORIZED");
    const denials = lines.filter((line) => line["msg"] === "permission denied");
    expect(denials).toEqual([
      expect.objectContaining({ method: "shop.payment.v1.PaymentService/RefundPayment", subject: "alice", paymentId: seeded.paymentId }),
    ]);
  });

  it("when an admin asks for a refund, then the payment is REFUNDED", async () => {
    const seeded = fixture.charge("tok_visa");

    const { payment } = await client.refundPayment({ paymentId: seeded.paymentId }, as("ops-1", ADMIN_SCOPE));

    expect(payment?.status).toBe(PaymentStatus.REFUNDED);
  });

  it("when the call carries no principal, then the refund is judged by the policy alone and goes through", async () => {
    const seeded = fixture.charge("tok_visa");

    const { payment } = await client.refundPayment({ paymentId: seeded.paymentId });

    expect(payment?.status).toBe(PaymentStatus.REFUNDED);
  });
});
