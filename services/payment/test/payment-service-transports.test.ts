// One set of PaymentService handlers, served twice: in memory by Connect's createRouterTransport, and over a real
// socket by grpc-js through the shared adapter. Every call is made on both and must come back the same: the same
// messages, the same error codes and messages, the same request headers seen by the handler.
import { Code, ConnectError, createClient as createConnectClient, createRouterTransport, type Client } from "@connectrpc/connect";
import type { ServiceError as GrpcServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentService, PaymentStatus } from "#gen/shop/payment/v1/payment_service_pb.js";
import { bindServer, createClient, createGrpcServer, implement, type GrpcServer, type ServiceClient } from "#shared/grpc/index.js";
import { traceInterceptor } from "#shared/grpc/trace-interceptor.js";
import { createPaymentService } from "../src/payment-service.js";
import { openTestPayments, type TestPayments } from "./payments-fixture.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** Outcome is how a call ended, in terms both transports share: the response message, or a status code and message. */
type Outcome = { response: unknown } | { code: number; message: string };

async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  try {
    return { response: await call };
  } catch (error) {
    if (error instanceof ConnectError) return { code: error.code, message: error.rawMessage };
    const grpcError = error as GrpcServiceError;
    if (typeof grpcError.code !== "number") throw error;
    return { code: grpcError.code, message: grpcError.details };
  }
}

describe("PaymentService handlers served in memory (Connect router) and by grpc-js (the adapter)", () => {
  let fixture: TestPayments;
  let grpc: GrpcServer;
  let overGrpc: ServiceClient<typeof PaymentService>;
  let inMemory: Client<typeof PaymentService>;

  beforeAll(async () => {
    fixture = openTestPayments();
    const impl = createPaymentService(fixture.payments);
    const routes = createRouterTransport(({ service }) => service(PaymentService, impl), { router: { interceptors: [traceInterceptor] } });
    inMemory = createConnectClient(PaymentService, routes);
    grpc = createGrpcServer({ services: [implement(PaymentService, impl)] });
    overGrpc = createClient(PaymentService, `127.0.0.1:${await bindServer(grpc.server, "127.0.0.1:0")}`, { defaultTimeoutMs: 5_000 });
  });

  afterAll(() => {
    overGrpc.close();
    grpc.server.forceShutdown();
    fixture.close();
  });

  const charge = (cardToken: string) => fixture.charge(cardToken);

  it("when a payment exists, then GetPayment answers the same message on both", async () => {
    const { paymentId } = charge("tok_visa");

    const memory = await outcomeOf(inMemory.getPayment({ paymentId }));
    const socket = await outcomeOf(overGrpc.getPayment({ paymentId }));

    expect(memory).toMatchObject({ response: { payment: { paymentId, status: PaymentStatus.AUTHORIZED } } });
    expect(socket).toEqual(memory);
  });

  it.each([
    ["an unknown payment is read", { paymentId: "00000000-0000-4000-8000-000000000000" }, Code.NotFound, /^payment "0{8}-.*" not found$/],
    ["payment_id is missing", { paymentId: "" }, Code.InvalidArgument, /^payment_id: required$/],
    ["payment_id is not a UUID", { paymentId: "42" }, Code.InvalidArgument, /^payment_id: must be a UUID$/],
  ])("when %s, then both answer the same code and message", async (_what, request, code, message) => {
    const memory = await outcomeOf(inMemory.getPayment(request));
    const socket = await outcomeOf(overGrpc.getPayment(request));

    expect(memory).toEqual({ code, message: expect.stringMatching(message) });
    expect(socket).toEqual(memory);
  });

  it("when a page token is garbage or the page size negative, then both answer INVALID_ARGUMENT naming the field", async () => {
    for (const request of [{ pageToken: "not-a-token" }, { pageSize: -1 }]) {
      const memory = await outcomeOf(inMemory.listPayments(request));
      const socket = await outcomeOf(overGrpc.listPayments(request));

      expect(memory).toMatchObject({ code: Code.InvalidArgument, message: expect.stringMatching(/^page_(token|size): /) });
      expect(socket).toEqual(memory);
    }
  });

  it("when a declined payment is refunded, then both answer FAILED_PRECONDITION with the same message", async () => {
    const { paymentId } = charge("tok_decline");

    const memory = await outcomeOf(inMemory.refundPayment({ paymentId }));
    const socket = await outcomeOf(overGrpc.refundPayment({ paymentId }));

    expect(memory).toMatchObject({ code: Code.FailedPrecondition });
    expect(socket).toEqual(memory);
  });

  it("when a refund carries traceparent, then its event continues the caller's trace on both", async () => {
    const viaMemory = charge("tok_visa");
    const viaSocket = charge("tok_visa");

    await inMemory.refundPayment({ paymentId: viaMemory.paymentId }, { headers: { traceparent: TRACEPARENT } });
    await overGrpc.refundPayment({ paymentId: viaSocket.paymentId }, { metadata: { traceparent: TRACEPARENT } });

    const traceparents = [viaMemory, viaSocket].map(
      ({ orderId }) =>
        fixture.db
          .prepare<[string], { traceparent: string }>("SELECT traceparent FROM outbox WHERE subject = ? AND event_type LIKE '%Refunded'")
          .get(orderId)?.traceparent,
    );
    // The event is a child span of the call, in the caller's trace.
    const inCallersTrace = expect.stringMatching(/^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/);
    expect(traceparents).toEqual([inCallersTrace, inCallersTrace]);
  });
});
