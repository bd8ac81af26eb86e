import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ReservationStatus,
  type ReserveStockResponse,
} from "../../../gen/shop/inventory/v1/inventory_service_pb.js";
import { failedPrecondition, fromStatusName, invalidArgument } from "../../shared/src/errors.js";
import {
  priceLines,
  requestFingerprint,
  validateCreateOrder,
  validateIdempotencyKey,
  V1_FIELDS,
  type CreateOrderCommand,
  type CreateOrderFields,
  type CreateOrderInput,
} from "./domain/create-order-command.js";
import { newOrder, type Money, type Order } from "./domain/order.js";
import { orderCreatedEvent } from "./order-events.js";
import type { OrderDeps } from "./order-deps.js";
import { fromProtoMoney } from "./order-mapper.js";
import type { InventoryReserver } from "./clients/inventory-reserver.js";

/** CallInfo is what CreateOrder takes from the gRPC call besides the request. */
export interface CallInfo {
  readonly idempotencyKey?: string | undefined;
  readonly traceparent?: string | undefined;
  /** deadline is the caller's; the reservation never waits past it. */
  readonly deadline?: Date | undefined;
  readonly signal?: AbortSignal | undefined;
  /** fields spell the request's field paths in the caller's API version, for error messages (default v1). */
  readonly fields?: CreateOrderFields | undefined;
}

/** CreateOrderDeps adds inventory to the shared order dependencies. */
export interface CreateOrderDeps extends OrderDeps {
  readonly reserver: Pick<InventoryReserver, "reserve" | "release">;
  /** reserveTimeoutMs bounds how long a reservation may take (default 3 s). */
  readonly reserveTimeoutMs: number;
}

/**
 * OrderCreator runs CreateOrder: validate, check the idempotency key, reserve stock, then store the order, the key and
 * its OrderCreated event in one transaction, releasing the reservation if that transaction fails.
 */
export class OrderCreator {
  /** inFlight holds the CreateOrder running for each idempotency key, so a concurrent duplicate waits for it. */
  private readonly inFlight = new Map<string, { fingerprint: string; promise: Promise<Order> }>();

  constructor(private readonly deps: CreateOrderDeps) {}

  async create(input: CreateOrderInput, call: CallInfo = {}): Promise<Order> {
    const command = validateCreateOrder(input, call.fields);
    const key = validateIdempotencyKey(call.idempotencyKey);
    const fingerprint = requestFingerprint(command);
    if (key === undefined) return this.reserveAndStore(command, fingerprint, undefined, call);

    const running = this.inFlight.get(key);
    if (running) {
      if (running.fingerprint !== fingerprint) throw keyReused();
      return running.promise;
    }
    const stored = this.deps.keys.get(key);
    if (stored) {
      if (stored.fingerprint !== fingerprint) throw keyReused();
      const order = this.deps.orders.get(stored.orderId);
      if (!order) throw new Error(`idempotency key points at missing order ${stored.orderId}`);
      this.deps.logger.info({ orderId: order.orderId }, "CreateOrder repeated with the same idempotency key; returning the stored order");
      return order;
    }
    const promise = this.reserveAndStore(command, fingerprint, key, call);
    this.inFlight.set(key, { fingerprint, promise });
    try {
      return await promise;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async reserveAndStore(command: CreateOrderCommand, fingerprint: string, key: string | undefined, call: CallInfo): Promise<Order> {
    const { db, orders, keys, outbox, relay, logger } = this.deps;
    const orderId = randomUUID();
    const ownDeadline = Date.now() + this.deps.reserveTimeoutMs;
    const deadline = new Date(Math.min(ownDeadline, call.deadline?.getTime() ?? ownDeadline));
    let response: ReserveStockResponse;
    try {
      response = await this.deps.reserver.reserve(
        { reservationId: orderId, orderId, lines: command.lines.map((l) => ({ productId: l.productId, quantity: l.quantity })) },
        deadline,
        call.signal,
      );
    } catch (error) {
      // Inventory may have made the reservation and only the answer was lost: give it back rather than wait for
      // its TTL. Releasing an unknown reservation is harmless.
      if (error instanceof ConnectError && (error.code === Code.DeadlineExceeded || error.code === Code.Canceled)) {
        void this.compensate(orderId, "order not created: reservation timed out or was cancelled");
      }
      throw error;
    }
    if (response.errorCode !== "" || response.reservation?.status !== ReservationStatus.HELD) {
      logger.info({ orderId, errorCode: response.errorCode, reason: response.errorMessage }, "stock reservation rejected");
      throw rejection(response, command, call.fields ?? V1_FIELDS);
    }
    try {
      const { lines, total } = priceLines(command.lines, unitPricesOf(response), call.fields);
      const order = newOrder({ orderId, customerId: command.customerId, lines, total, at: new Date() });
      db.transaction(() => {
        orders.insert(order);
        if (key !== undefined) keys.put(key, { fingerprint, orderId });
        outbox.add(orderCreatedEvent(order, command.cardToken, call.traceparent));
      })();
      relay.notify();
      logger.info({ orderId, customerId: order.customerId, total: `${order.total.amountMinor} ${order.total.currencyCode}` }, "order created");
      return order;
    } catch (error) {
      await this.compensate(orderId, "order not created: storing it failed");
      throw error;
    }
  }

  /** compensate releases a reservation whose order was not stored; if that fails too, inventory's TTL frees it. */
  private async compensate(orderId: string, reason: string): Promise<void> {
    try {
      await this.deps.reserver.release(orderId, reason);
      this.deps.logger.info({ orderId, reason }, "reservation released (compensation)");
    } catch (error) {
      this.deps.logger.warn({ orderId, err: error }, "releasing the reservation failed; inventory's reservation TTL will free it");
    }
  }
}

function keyReused(): ConnectError {
  return invalidArgument("idempotency-key", "was already used with a different request");
}

function unitPricesOf(response: ReserveStockResponse): Map<string, Money> {
  const prices = new Map<string, Money>();
  for (const line of response.reservation?.lines ?? []) {
    const price = fromProtoMoney(line.unitPrice);
    if (price) prices.set(line.productId, price);
  }
  return prices;
}

/**
 * rejection turns inventory's refusal into the caller's error. Missing stock stays FAILED_PRECONDITION. An unknown
 * product is the caller's bad argument here, so NOT_FOUND becomes INVALID_ARGUMENT on the line that names it.
 */
function rejection(response: ReserveStockResponse, command: CreateOrderCommand, fields: CreateOrderFields): ConnectError {
  const message = response.errorMessage || "stock reservation rejected";
  switch (response.errorCode) {
    case "NOT_FOUND": {
      const index = command.lines.findIndex((line) => message.includes(line.productId));
      return invalidArgument(index >= 0 ? `${fields.lines}[${index}].product_id` : fields.lines, message);
    }
    case "INVALID_ARGUMENT":
      return new ConnectError(message, Code.InvalidArgument);
    case "FAILED_PRECONDITION":
    case "":
      return failedPrecondition(message);
    default: {
      return new ConnectError(message, fromStatusName(response.errorCode) ?? Code.Unknown);
    }
  }
}
