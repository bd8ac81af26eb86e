import { OrderService } from "../../../gen/shop/order/v1/order_service_pb.js";
import { OrderService as OrderServiceV2 } from "../../../gen/shop/order/v2/order_service_pb.js";
import { createGrpcServer, implement, type GrpcServer } from "../../shared/src/grpc/server.js";
import type { RpcLogger } from "../../shared/src/grpc/rpc-logger.js";
import { opsService } from "../../shared/src/ops-service.js";
import type { SqliteDatabase } from "../../shared/src/store/database.js";
import { createOrderService } from "./api/v1/order-service.js";
import { createOrderServiceV2 } from "./api/v2/order-service.js";
import type { OrderUseCases } from "./order-use-cases.js";

/** ServerDeps are what the order gRPC server needs: the use cases and the database OpsService reads. */
export interface ServerDeps {
  readonly orders: OrderUseCases;
  readonly db: SqliteDatabase;
  readonly logger?: RpcLogger;
}

/**
 * createServer builds the order gRPC server without listening: shop.order.v1 and shop.order.v2 OrderService over the
 * same use cases (v1 stays served until its sunset, docs/versioning.md), shop.ops.v1.OpsService, health, reflection.
 */
export function createServer(deps: ServerDeps): GrpcServer {
  return createGrpcServer({
    services: [
      implement(OrderService, createOrderService(deps.orders)),
      implement(OrderServiceV2, createOrderServiceV2(deps.orders)),
      opsService({ service: "order", db: deps.db }),
    ],
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}
