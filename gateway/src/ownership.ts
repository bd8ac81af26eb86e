/**
 * An order's notifications are the order's: a customer may read those of their own orders, an admin any. The
 * notification service knows nothing of ownership (it only records what it sent, and an order with no email yet has
 * no customer it could compare), so the gateway applies the order service's rule the way the timeline does: it reads
 * the order with the caller's principal first, and the order service answers PERMISSION_DENIED (403) to a customer
 * who is not its owner, NOT_FOUND to an admin for an unknown order. The same guard serves Connect, gRPC, gRPC-Web and
 * REST, since they forward through the same two hooks.
 */
import { create, type DescMethod, type DescService } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { GetOrderRequestSchema, OrderService } from "#gen/shop/order/v2/order_service_pb.js";
import { requireUuid } from "#shared/ids.js";
import type { Backends } from "./backends.js";
import type { NodeRequest } from "./http-handler.js";

/** OwnershipGuard checks a forwarded call against the order it concerns. */
export interface OwnershipGuard {
  /** before runs ahead of forwarding: it rejects a call naming an order the caller may not read. */
  before(service: DescService, method: DescMethod, input: unknown, from: NodeRequest | HandlerContext): Promise<void>;
  /** after runs on a unary answer whose order is known only then (GetNotification). */
  after(service: DescService, method: DescMethod, output: unknown, from: NodeRequest | HandlerContext): Promise<void>;
}

/** createOwnershipGuard guards NotificationService; other services pass untouched (their backends check themselves). */
export function createOwnershipGuard(backends: Backends): OwnershipGuard {
  const readOrder = async (orderId: string, from: NodeRequest | HandlerContext) => {
    await backends.unary(OrderService, OrderService.method.getOrder, create(GetOrderRequestSchema, { orderId }), from);
  };
  return {
    async before(service, method, input, from) {
      if (service.typeName !== NotificationService.typeName) return;
      if (method.name !== "ListNotifications" && method.name !== "WatchNotifications") return;
      // Checked here with the notification service's own rule, so a bad id is the same 400 whichever answers it,
      // and never costs an order read.
      const orderId = (input as { orderId?: string }).orderId ?? "";
      requireUuid("order_id", orderId);
      await readOrder(orderId, from);
    },
    async after(service, method, output, from) {
      if (service.typeName !== NotificationService.typeName || method.name !== "GetNotification") return;
      const orderId = (output as { notification?: { orderId: string } }).notification?.orderId;
      if (orderId) await readOrder(orderId, from);
    },
  };
}
