import { invalidArgument, notFound } from "../../shared/src/errors.js";
import type { HandlerContext } from "@connectrpc/connect";
import { decodePageToken, encodePageToken, pageSizeOf } from "../../shared/src/page-token.js";
import type { CreateOrderFields, CreateOrderInput } from "./domain/create-order-command.js";
import { isTerminal, type Order, type OrderStatus } from "./domain/order.js";
import type { CallInfo, OrderCreator } from "./create-order.js";
import type { OrderChanges } from "./order-changes.js";
import type { OrderTransitions } from "./order-transitions.js";
import type { OrderStore } from "./store/order-store.js";

/** OrderServiceDeps are the use cases and reads behind the RPCs. */
export interface OrderServiceDeps {
  readonly creator: OrderCreator;
  readonly transitions: OrderTransitions;
  readonly orders: OrderStore;
  readonly changes: OrderChanges;
}

/** ListQuery is a ListOrders request in domain terms, whichever API version it came from. */
export interface ListQuery {
  readonly pageSize: number;
  readonly pageToken: string;
  readonly customerId: string;
  readonly status: OrderStatus | undefined;
}

/**
 * OrderUseCases are the order RPCs in domain terms. Every API version (shop.order.v1, shop.order.v2) maps its
 * messages onto these, so both versions serve the same orders with the same rules, idempotency keys and page
 * tokens; a version only adds its own message shapes.
 */
export interface OrderUseCases {
  create(input: CreateOrderInput, ctx: HandlerContext, fields?: CreateOrderFields): Promise<Order>;
  get(orderId: string): Order;
  list(query: ListQuery): { orders: Order[]; nextPageToken: string };
  cancel(orderId: string, reason: string, ctx: HandlerContext): Order;
  /** watch yields the order now and after every visible change, until it reaches a terminal state. */
  watch(orderId: string, ctx: HandlerContext): AsyncGenerator<Order>;
}

function requireOrderId(orderId: string): string {
  if (orderId.trim() === "") throw invalidArgument("order_id", "is required");
  return orderId;
}

function callInfoOf(ctx: HandlerContext, fields: CreateOrderFields | undefined): CallInfo {
  return {
    idempotencyKey: ctx.requestHeader.get("idempotency-key") ?? undefined,
    traceparent: ctx.requestHeader.get("traceparent") ?? undefined,
    deadline: deadlineOf(ctx),
    signal: ctx.signal,
    fields,
  };
}

/** deadlineOf is when the caller stops waiting, or undefined when it set no deadline. */
function deadlineOf(ctx: HandlerContext): Date | undefined {
  const timeoutMs = ctx.timeoutMs();
  return timeoutMs === undefined ? undefined : new Date(Date.now() + timeoutMs);
}

/** createOrderUseCases binds the order use cases to their collaborators. */
export function createOrderUseCases(deps: OrderServiceDeps): OrderUseCases {
  const get = (orderId: string): Order => {
    const order = deps.orders.get(requireOrderId(orderId));
    if (!order) throw notFound(`order "${orderId}"`);
    return order;
  };

  return {
    create: (input, ctx, fields) => deps.creator.create(input, callInfoOf(ctx, fields)),

    get,

    list(query) {
      const pageSize = pageSizeOf(query.pageSize);
      // The filter is in domain terms, so a v1 page token continues a v2 listing and vice versa.
      const filter = `${query.customerId}|${query.status ?? ""}`;
      const cursor = decodePageToken(query.pageToken, filter);
      const afterSeq = cursor === undefined ? undefined : Number(cursor.after);
      if (afterSeq !== undefined && !Number.isInteger(afterSeq)) throw invalidArgument("page_token", "is not a token this server issued");
      const page = deps.orders.list({ customerId: query.customerId, status: query.status }, pageSize, afterSeq);
      return {
        orders: page.orders,
        nextPageToken: page.more && page.lastSeq !== undefined ? encodePageToken({ after: String(page.lastSeq), filter }) : "",
      };
    },

    cancel: (orderId, reason, ctx) => deps.transitions.cancel(requireOrderId(orderId), reason, ctx.requestHeader.get("traceparent") ?? undefined),

    async *watch(orderId, ctx) {
      requireOrderId(orderId);
      // Listen before the first read, so a change committed in between is not lost.
      const changes = deps.changes.subscribe(orderId, ctx.signal);
      try {
        let order = get(orderId);
        yield order;
        while (!isTerminal(order.status)) {
          await changes.next();
          const next = get(orderId);
          if (next.history.length !== order.history.length || next.paymentId !== order.paymentId) yield next;
          order = next;
        }
      } finally {
        changes.close();
      }
    },
  };
}
