import type { HandlerContext } from "@connectrpc/connect";
import { invalidArgument } from "#shared/errors.js";
import { actorOf } from "#shared/security/actor.js";
import { requiredText } from "../domain/order-commands.js";
import type { Order, OrderStatus } from "../domain/order.js";
import type { CallOptions, OrderUseCases } from "../order-use-cases.js";

/**
 * callOf is all the order API reads from a call besides its request: the principal the kit put in the context (and
 * the method, for denial logs), the `idempotency-key` header, the caller's abort signal and deadline.
 */
export function callOf(ctx: HandlerContext): CallOptions & { readonly signal: AbortSignal } {
  const timeoutMs = ctx.timeoutMs();
  const deadline = timeoutMs === undefined ? undefined : new Date(Date.now() + timeoutMs);
  return {
    ...actorOf(ctx),
    idempotencyKey: ctx.requestHeader.get("idempotency-key") ?? undefined,
    signal: ctx.signal,
    deadline,
  };
}

/** VersionMapping is what an API version brings to the handlers the versions share: its Order message and status enum. */
export interface VersionMapping<Message, Status extends number> {
  toMessage(order: Order): Message;
  /** status maps each domain status to the version's enum value. */
  readonly status: Readonly<Record<OrderStatus, Status>>;
}

/**
 * sharedHandlers are GetOrder, ListOrders, CancelOrder and WatchOrder, whose requests every API version spells the
 * same way (`order_id`, `page_size`, `page_token`, `customer_id`, `status`, `reason`); only the answers differ, which
 * the version's mapping builds. CreateOrder is each version's own.
 */
export function sharedHandlers<Message, Status extends number>(orders: OrderUseCases, version: VersionMapping<Message, Status>) {
  const answer = (order: Order) => ({ order: version.toMessage(order) });
  return {
    getOrder(request: { readonly orderId: string }, ctx: HandlerContext) {
      return answer(orders.get(requiredText("order_id", request.orderId), actorOf(ctx)));
    },

    listOrders(
      request: { readonly pageSize: number; readonly pageToken: string; readonly customerId: string; readonly status: Status },
      ctx: HandlerContext,
    ) {
      const { pageSize, pageToken, customerId } = request;
      const page = orders.list({ pageSize, pageToken, customerId, status: statusFilter(version.status, request.status) }, actorOf(ctx));
      return { orders: page.orders.map((order) => version.toMessage(order)), nextPageToken: page.nextPageToken };
    },

    cancelOrder(request: { readonly orderId: string; readonly reason: string }, ctx: HandlerContext) {
      return answer(orders.cancel(requiredText("order_id", request.orderId), request.reason, actorOf(ctx)));
    },

    async *watchOrder(request: { readonly orderId: string }, ctx: HandlerContext) {
      const orderId = requiredText("order_id", request.orderId);
      for await (const order of orders.watch(orderId, ctx.signal, actorOf(ctx))) yield answer(order);
    },
  };
}

/** statusFilter maps a ListOrders status filter to the domain; 0 (every enum's `_UNSPECIFIED`) means any status. */
function statusFilter<Status extends number>(statuses: Readonly<Record<OrderStatus, Status>>, status: Status): OrderStatus | undefined {
  if (status === 0) return undefined;
  const match = (Object.keys(statuses) as OrderStatus[]).find((name) => statuses[name] === status);
  if (match === undefined) throw invalidArgument("status", `unknown order status ${String(status)}`);
  return match;
}
