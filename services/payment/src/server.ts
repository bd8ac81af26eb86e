import { PaymentService } from "#gen/shop/payment/v1/payment_service_pb.js";
import { createGrpcServer, implement, type GrpcServer, type ServiceRegistration } from "#shared/grpc/server.js";
import type { Logger } from "#shared/logger.js";
import { accessControl } from "#shared/security/access-control.js";
import { createPaymentService } from "./payment-service.js";
import type { Payments } from "./payments.js";

/** ServerDeps are what the payment RPCs need. */
export interface ServerDeps {
  readonly payments: Payments;
  readonly logger?: Logger;
}

/**
 * paymentServices are the gRPC services payment serves: shop.payment.v1.PaymentService. The service kit adds
 * OpsService, grpc.health.v1 and reflection, and binds the port.
 */
export function paymentServices(deps: ServerDeps): ServiceRegistration[] {
  return [implement(PaymentService, createPaymentService(deps.payments))];
}

/**
 * createServer builds a payment gRPC server without the kit, for in-process tests of the RPCs: PaymentService, health
 * (NOT_SERVING, as nothing consumes events here) and reflection, not listening. Calls are admitted as the kit does
 * under MESH_INSECURE=1 (no policy; the principal headers are read from the caller).
 */
export function createServer(deps: ServerDeps): GrpcServer {
  const grpc = createGrpcServer({
    services: paymentServices(deps),
    access: accessControl(undefined),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  grpc.health.setAll("NOT_SERVING");
  return grpc;
}
