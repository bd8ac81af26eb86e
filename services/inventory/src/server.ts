import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { implement, type ServiceRegistration } from "#shared/grpc/index.js";
import { createInventoryService, type InventoryServiceDeps } from "./inventory-service.js";

/**
 * inventoryServices are the gRPC services inventory serves: shop.inventory.v1.InventoryService. The service kit adds
 * OpsService, grpc.health.v1 and reflection, and binds the port.
 */
export function inventoryServices(deps: InventoryServiceDeps): ServiceRegistration[] {
  return [implement(InventoryService, createInventoryService(deps))];
}
