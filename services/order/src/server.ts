import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderService as OrderServiceV2 } from "#gen/shop/order/v2/order_service_pb.js";
import { implement, type ServiceRegistration } from "#shared/grpc/server.js";
import { createOrderService } from "./api/v1/order-service.js";
import { createOrderServiceV2 } from "./api/v2/order-service.js";
import type { OrderUseCases } from "./order-use-cases.js";

/**
 * orderServices are the gRPC services order serves: shop.order.v1 and shop.order.v2 OrderService over the same use
 * cases (v1 stays served until its sunset, docs/versioning.md). The service kit adds OpsService, grpc.health.v1 and
 * reflection, and binds the port.
 */
export function orderServices(orders: OrderUseCases): ServiceRegistration[] {
  return [implement(OrderService, createOrderService(orders)), implement(OrderServiceV2, createOrderServiceV2(orders))];
}
