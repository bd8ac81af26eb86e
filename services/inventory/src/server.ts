import { InventoryService } from "../../../gen/shop/inventory/v1/inventory_service_pb.js";
import { createGrpcServer, implement, type GrpcServer, type RpcLogger } from "../../shared/src/grpc/index.js";
import { opsService } from "../../shared/src/ops-service.js";
import type { SqliteDatabase } from "../../shared/src/store/database.js";
import { createInventoryService, type InventoryServiceDeps } from "./inventory-service.js";

/** ServerDeps are what createServer wires into the gRPC server. */
export interface ServerDeps extends InventoryServiceDeps {
  /** db is the inventory database, whose outbox and inbox shop.ops.v1.OpsService reports on. */
  readonly db: SqliteDatabase;
  readonly logger?: RpcLogger;
}

/**
 * createServer builds the inventory gRPC server (InventoryService, OpsService, grpc.health.v1, reflection) without
 * listening: main binds the configured port, tests bind port 0.
 */
export function createServer(deps: ServerDeps): GrpcServer {
  return createGrpcServer({
    services: [implement(InventoryService, createInventoryService(deps)), opsService({ service: "inventory", db: deps.db })],
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}
