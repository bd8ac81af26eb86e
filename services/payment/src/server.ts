import { PaymentService } from "../../../gen/shop/payment/v1/payment_service_pb.js";
import { createGrpcServer, implement, type GrpcServer } from "../../shared/src/grpc/server.js";
import type { Logger } from "../../shared/src/logger.js";
import { opsService } from "../../shared/src/ops-service.js";
import type { SqliteDatabase } from "../../shared/src/store/database.js";
import { createPaymentService } from "./payment-service.js";
import type { Payments } from "./payments.js";

/** ServerDeps are what the gRPC server needs. */
export interface ServerDeps {
  readonly payments: Payments;
  /** db, when given, is served through shop.ops.v1.OpsService; tests of the RPCs alone may leave it out. */
  readonly db?: SqliteDatabase;
  readonly logger?: Logger;
}

/**
 * createServer builds the payment gRPC server (PaymentService, OpsService, health, reflection) without listening:
 * main binds the configured port, tests bind port 0. Health starts NOT_SERVING; the caller turns it SERVING once the
 * port is bound and the consumer has joined its group.
 */
export function createServer(deps: ServerDeps): GrpcServer {
  const grpc = createGrpcServer({
    services: [
      implement(PaymentService, createPaymentService(deps.payments)),
      ...(deps.db ? [opsService({ service: "payment", db: deps.db })] : []),
    ],
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  grpc.health.setAll("NOT_SERVING");
  return grpc;
}
