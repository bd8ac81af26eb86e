import { OrderService } from "../../../gen/shop/order/v1/order_service_pb.js";
import { createGrpcServer, implement, type GrpcServer } from "../../shared/src/grpc/server.js";
import type { RpcLogger } from "../../shared/src/grpc/rpc-logger.js";
import { createOrderService, type OrderServiceDeps } from "./order-service.js";

/** createServer builds the order gRPC server (service, health, reflection) without listening. */
export function createServer(deps: OrderServiceDeps & { logger?: RpcLogger }): GrpcServer {
  return createGrpcServer({
    services: [implement(OrderService, createOrderService(deps))],
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}
