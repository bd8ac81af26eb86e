import type { OrderService } from "../../../gen/shop/order/v1/order_service_pb.js";
import { invalidArgument, notFound } from "../../shared/src/errors.js";
import type { ServiceImpl } from "../../shared/src/grpc/service-impl.js";
import { decodePageToken, encodePageToken, pageSizeOf } from "../../shared/src/page-token.js";
import { isTerminal, type Order } from "./domain/order.js";
import type { OrderChanges } from "./order-changes.js";
import type { OrderCreator } from "./create-order.js";
import { fromProtoStatusFilter, toProtoOrder } from "./order-mapper.js";
import type { OrderTransitions } from "./order-transitions.js";
import type { OrderStore } from "./store/order-store.js";

/** OrderServiceDeps are the use cases and reads behind the RPCs. */
export interface OrderServiceDeps {
  readonly creator: OrderCreator;
  readonly transitions: OrderTransitions;
  readonly orders: OrderStore;
  readonly changes: OrderChanges;
}

function requireOrderId(orderId: string): string {
  if (orderId.trim() === "") throw invalidArgument("order_id", "is required");
  return orderId;
}

/**
 * createOrderService implements shop.order.v1.OrderService: each handler maps proto to domain and back, the rules
 * live in the domain and the use cases.
 */
export function createOrderService(deps: OrderServiceDeps): ServiceImpl<typeof OrderService> {
  const getOrder = (orderId: string): Order => {
    const order = deps.orders.get(requireOrderId(orderId));
    if (!order) throw notFound(`order "${orderId}"`);
    return order;
  };

  return {
    async createOrder(request, ctx) {
      const order = await deps.creator.create(request, {
        idempotencyKey: ctx.metadata.get("idempotency-key"),
        traceparent: ctx.metadata.get("traceparent"),
        deadline: ctx.deadline,
        signal: ctx.signal,
      });
      return { order: toProtoOrder(order) };
    },

    getOrder(request) {
      return { order: toProtoOrder(getOrder(request.orderId)) };
    },

    listOrders(request) {
      const pageSize = pageSizeOf(request.pageSize);
      const status = fromProtoStatusFilter(request.status);
      const filter = `${request.customerId}|${status ?? ""}`;
      const cursor = decodePageToken(request.pageToken, filter);
      const afterSeq = cursor === undefined ? undefined : Number(cursor.after);
      if (afterSeq !== undefined && !Number.isInteger(afterSeq)) throw invalidArgument("page_token", "is not a token this server issued");
      const page = deps.orders.list({ customerId: request.customerId, status }, pageSize, afterSeq);
      return {
        orders: page.orders.map(toProtoOrder),
        nextPageToken: page.more && page.lastSeq !== undefined ? encodePageToken({ after: String(page.lastSeq), filter }) : "",
      };
    },

    cancelOrder(request, ctx) {
      const order = deps.transitions.cancel(requireOrderId(request.orderId), request.reason, ctx.metadata.get("traceparent"));
      return { order: toProtoOrder(order) };
    },

    async *watchOrder(request, ctx) {
      const orderId = requireOrderId(request.orderId);
      // Listen before the first read, so a change committed in between is not lost.
      const changes = deps.changes.subscribe(orderId, ctx.signal);
      try {
        let order = getOrder(orderId);
        yield { order: toProtoOrder(order) };
        while (!isTerminal(order.status)) {
          await changes.next();
          const next = getOrder(orderId);
          if (next.history.length !== order.history.length || next.paymentId !== order.paymentId) {
            yield { order: toProtoOrder(next) };
          }
          order = next;
        }
      } finally {
        changes.close();
      }
    },
  };
}
