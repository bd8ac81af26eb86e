import { randomUUID } from "node:crypto";
import type { AdmissionLimit } from "#shared/admission-limit.js";
import { invalidArgument } from "#shared/errors.js";
import type { Inbox } from "#shared/events/inbox.js";
import type { OutboxEvent, OutboxStore } from "#shared/events/outbox.js";
import type { Logger } from "#shared/logger.js";
import { formatMoney, type Money } from "#shared/money.js";
import { decodePageToken, encodePageToken, pageSizeOf } from "#shared/page-token.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import { idempotencyKeyOf, requestFingerprint, type CreateOrderCommand, type RequestedLine } from "./domain/order-commands.js";
import {
  cancelByCustomer,
  isTerminal,
  newOrder,
  onStockCommitFailed,
  priceLines,
  type Order,
  type OrderStatus,
  type PaymentOutcome,
} from "./domain/order.js";
import type { Actor } from "#shared/security/actor.js";
import { OrderAccess } from "./order-access.js";
import type { OrderChanges } from "./order-changes.js";
import type { StockReleases } from "./stock-releases.js";
import { orderEmail } from "./customer-emails.js";
import { orderCancelledEvent, orderConfirmedEvent, orderCreatedEvent } from "./order-events.js";
import type { IdempotencyStore } from "./store/idempotency-store.js";
import type { OrderStore } from "./store/order-store.js";

/** StockAnswer is inventory's answer to a reservation it could make sense of. */
export type StockAnswer =
  | { readonly kind: "held"; readonly unitPrices: ReadonlyMap<string, Money> }
  /** productId is the line's product inventory does not know, when its message says which. */
  | { readonly kind: "unknown-product"; readonly productId: string | undefined; readonly message: string };

/** StockReservations is what the order flow needs from inventory (implemented in clients/stock-reservations.ts). */
export interface StockReservations {
  /**
   * reserve holds the lines under the order's id, within the service's own bound (RESERVE_TIMEOUT_MS) and the
   * caller's `deadline` and `signal`, whichever ends first. It throws FAILED_PRECONDITION when stock is short, and
   * UNAVAILABLE, DEADLINE_EXCEEDED or the signal's reason when inventory gives no answer.
   */
  reserve(orderId: string, lines: readonly RequestedLine[], call: Pick<CallOptions, "deadline" | "signal">): Promise<StockAnswer>;
  /**
   * release asks inventory to give an order's reservation back. It throws when inventory did not confirm it,
   * NOT_FOUND meaning nothing is held under the id ({@link StockReleases} retries it).
   */
  release(orderId: string, reason: string): Promise<void>;
  /** mayHold tells whether a failed `reserve` may still have left stock held (its answer lost, not a refusal). */
  mayHold(error: unknown): boolean;
}

/** OrderUseCaseDeps are the database, its stores, inventory, the relay to wake and the watchers to tell. */
export interface OrderUseCaseDeps {
  readonly db: SqliteDatabase;
  readonly orders: OrderStore;
  readonly keys: IdempotencyStore;
  readonly outbox: OutboxStore;
  readonly inbox: Inbox;
  readonly stock: StockReservations;
  /** releases records each reservation until its order is stored, and gives back what no order owns. */
  readonly releases: StockReleases;
  /** admission bounds the CreateOrders reserving and storing at once; the excess is shed with RESOURCE_EXHAUSTED. */
  readonly admission: AdmissionLimit;
  /** relay is woken after each commit that wrote an outbox row (events and commands alike). */
  readonly relay: { notify(): void };
  /**
   * emailsCustomers: order writes a SendOrderEmail command at each confirmation and cancellation. False under
   * COMMAND_BUS=off, a deployment with no notification service, where such commands would only pile up unsent.
   */
  readonly emailsCustomers: boolean;
  readonly changes: OrderChanges;
  readonly logger: Logger;
}

/**
 * CallOptions are what the use cases take from the call besides the request (api/shared-handlers.ts `callOf`): who
 * it acts for (OrderAccess decides what that allows), and for CreateOrder the key, signal and deadline.
 */
export interface CallOptions extends Actor {
  readonly idempotencyKey?: string | undefined;
  /** signal aborts when the caller gives up; the reservation stops waiting then. */
  readonly signal?: AbortSignal | undefined;
  /** deadline is the caller's; the reservation never waits past it. */
  readonly deadline?: Date | undefined;
}

/** ListQuery is a ListOrders request in domain terms, whichever API version it came in. */
export interface ListQuery {
  readonly pageSize: number;
  readonly pageToken: string;
  readonly customerId: string;
  readonly status: OrderStatus | undefined;
}

/** InboxEvent identifies a consumed event for the inbox. */
export interface InboxEvent {
  readonly id: string;
  readonly type: string;
}

/** PaymentResult is what a payment event did: an outcome, or nothing because it was a duplicate or about no order. */
export type PaymentResult = PaymentOutcome | { kind: "duplicate" } | { kind: "unknown-order" };

/**
 * OrderUseCases is the order flow, in domain terms: every API version maps its messages onto it, so both versions
 * serve the same orders with the same rules, idempotency keys and page tokens, and the payment event handlers drive
 * the same transitions. Each change, its history and its outbox event commit together; watchers hear of it after the
 * commit. It knows no transport: the trace context the events carry is the one the call or event runs in.
 */
export class OrderUseCases {
  /** inFlight holds the CreateOrder running for each idempotency key, so a concurrent duplicate waits for it. */
  private readonly inFlight = new Map<string, { fingerprint: string; promise: Promise<Order> }>();
  private readonly access: OrderAccess;

  constructor(private readonly deps: OrderUseCaseDeps) {
    this.access = new OrderAccess(deps.logger);
  }

  /**
   * create runs CreateOrder: check the idempotency key, reserve stock, then store the order, the key and its
   * OrderCreated event in one transaction. The reservation is recorded before it is sent and the record dropped in
   * that transaction, so a reservation no order owns (its answer lost, storing failed, the process died) is released
   * until inventory confirms it. The same key with the same command returns the first order; with another command it
   * is INVALID_ARGUMENT. A customer places orders only for themselves (checked first, before the key is looked at).
   */
  async create(command: CreateOrderCommand, call: CallOptions = {}): Promise<Order> {
    this.access.checkCreate(call, command.customerId);
    const key = idempotencyKeyOf(call.idempotencyKey);
    const fingerprint = requestFingerprint(command);
    if (key === undefined) return this.admitted(command, fingerprint, undefined, call);

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
    const promise = this.admitted(command, fingerprint, key, call);
    this.inFlight.set(key, { fingerprint, promise });
    try {
      return await promise;
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** get returns an order the caller may see, or throws NOT_FOUND (PERMISSION_DENIED for a customer: OrderAccess). */
  get(orderId: string, call: Actor = {}): Order {
    return this.access.readable(call, orderId, this.deps.orders.get(orderId));
  }

  /**
   * list returns a page of orders, newest first, and the token of the next page ("" at the end). A customer lists
   * their own orders whether or not they name themselves.
   */
  list(query: ListQuery, call: Actor = {}): { orders: Order[]; nextPageToken: string } {
    const pageSize = pageSizeOf(query.pageSize);
    const customerId = this.access.listFilter(call, query.customerId);
    // The filter is in domain terms, so a v1 page token continues a v2 listing and vice versa.
    const filter = `${customerId}|${query.status ?? ""}`;
    const cursor = decodePageToken(query.pageToken, filter);
    const afterSeq = cursor === undefined ? undefined : Number(cursor.after);
    if (afterSeq !== undefined && !Number.isInteger(afterSeq)) throw invalidArgument("page_token", "is not a token this server issued");
    const page = this.deps.orders.list({ customerId, status: query.status }, pageSize, afterSeq);
    return {
      orders: page.orders,
      nextPageToken: page.more && page.lastSeq !== undefined ? encodePageToken({ after: String(page.lastSeq), filter }) : "",
    };
  }

  /** cancel runs CancelOrder; cancelling a cancelled order returns it unchanged and writes nothing. */
  cancel(orderId: string, reason: string, call: Actor = {}): Order {
    const { db, orders, outbox } = this.deps;
    const result = db.transaction(() => {
      const order = this.get(orderId, call);
      const outcome = cancelByCustomer(order, reason, new Date());
      if (outcome.kind === "unchanged") return { order, changed: false };
      orders.update(outcome.order);
      outbox.add(orderCancelledEvent(outcome.order, outcome.refundPaymentId));
      this.tellCustomer(outcome.order, "CANCELLED");
      return { order: outcome.order, changed: true };
    })();
    if (result.changed) {
      this.committed(orderId, true);
      this.deps.logger.info({ orderId, paid: result.order.paymentId !== "" }, "order cancelled by the customer");
    }
    return result.order;
  }

  /** watch yields the order now and after every visible change, until it reaches a terminal state or `signal` aborts. */
  async *watch(orderId: string, signal: AbortSignal, call: Actor = {}): AsyncGenerator<Order> {
    // Listen before the first read, so a change committed in between is not lost.
    const changes = this.deps.changes.subscribe(orderId, signal);
    try {
      // Who owns an order never changes: the first read's check holds for the whole stream.
      let order = this.get(orderId, call);
      yield order;
      while (!isTerminal(order.status)) {
        await changes.next();
        const next = this.get(orderId);
        if (next.history.length !== order.history.length || next.paymentId !== order.paymentId) yield next;
        order = next;
      }
    } finally {
      changes.close();
    }
  }

  /**
   * applyPayment applies a payment event once (inbox) to the order it names, with its outbox event in the same
   * transaction. `decide` is the domain rule for this event type.
   */
  applyPayment(consumer: string, event: InboxEvent, orderId: string, decide: (order: Order) => PaymentOutcome): PaymentResult {
    return this.applyEvent(consumer, event, orderId, decide);
  }

  /**
   * applyStockCommitFailed applies inventory's StockCommitFailed once: the paid order is cancelled, whatever it
   * heard of the payment so far, and its OrderCancelled carries the payment to refund.
   */
  applyStockCommitFailed(consumer: string, event: InboxEvent, orderId: string, paymentId: string, detail: string): PaymentResult {
    return this.applyEvent(consumer, event, orderId, (order) => onStockCommitFailed(order, paymentId, detail, new Date()));
  }

  private applyEvent(consumer: string, event: InboxEvent, orderId: string, decide: (order: Order) => PaymentOutcome): PaymentResult {
    const { orders, outbox, inbox } = this.deps;
    const { ran, result } = inbox.once<PaymentResult>(consumer, event, () => {
      const order = orders.get(orderId);
      if (!order) return { kind: "unknown-order" };
      const outcome = decide(order);
      let outgoing: OutboxEvent | undefined;
      if (outcome.kind === "confirmed") outgoing = orderConfirmedEvent(outcome.order);
      if (outcome.kind === "cancelled") outgoing = orderCancelledEvent(outcome.order, outcome.refundPaymentId ?? "");
      if (outcome.kind !== "ignored") orders.update(outcome.order);
      if (outgoing) outbox.add(outgoing);
      // The customer is told of each terminal decision, by a command in the same transaction as the decision: the
      // email can neither go out for a change that rolled back nor be lost for one that committed.
      if (outcome.kind === "confirmed") this.tellCustomer(outcome.order, "CONFIRMED");
      if (outcome.kind === "cancelled") this.tellCustomer(outcome.order, "CANCELLED");
      return outcome;
    });
    if (!ran || result === undefined) return { kind: "duplicate" };
    if (result.kind === "confirmed" || result.kind === "cancelled" || result.kind === "payment-recorded") {
      this.committed(orderId, result.kind !== "payment-recorded");
    }
    return result;
  }

  /** admitted runs reserveAndStore within the admission limit: a replay or an in-flight duplicate takes no slot. */
  private admitted(command: CreateOrderCommand, fingerprint: string, key: string | undefined, call: CallOptions): Promise<Order> {
    return this.deps.admission.run(() => this.reserveAndStore(command, fingerprint, key, call));
  }

  private async reserveAndStore(
    command: CreateOrderCommand,
    fingerprint: string,
    key: string | undefined,
    call: CallOptions,
  ): Promise<Order> {
    const { db, orders, keys, outbox, relay, stock, releases, logger } = this.deps;
    const orderId = randomUUID();
    releases.opening(orderId);
    let answer: StockAnswer;
    try {
      answer = await stock.reserve(orderId, command.lines, { deadline: call.deadline, signal: call.signal });
    } catch (error) {
      if (!stock.mayHold(error)) releases.answered(orderId, false);
      else if (callerLeft(call)) releases.abandoned(orderId);
      else void releases.release(orderId, "order not created: inventory's answer did not arrive in time");
      throw error;
    }
    releases.answered(orderId, answer.kind === "held");
    if (answer.kind === "unknown-product") throw unknownProduct(command, answer.productId, answer.message);
    try {
      const { lines, total } = priceLines(command.lines, answer.unitPrices, command.linesField);
      const order = newOrder({ orderId, customerId: command.customerId, lines, total, at: new Date() });
      db.transaction(() => {
        orders.insert(order);
        if (key !== undefined) keys.put(key, { fingerprint, orderId });
        outbox.add(orderCreatedEvent(order, command.cardToken));
        releases.stored(orderId);
      })();
      relay.notify();
      logger.info({ orderId, customerId: order.customerId, total: formatMoney(order.total) }, "order created");
      return order;
    } catch (error) {
      await releases.release(orderId, "order not created: storing it failed");
      throw error;
    }
  }

  /** tellCustomer writes the SendOrderEmail command of a decision; call it inside the decision's transaction. */
  private tellCustomer(order: Order, kind: "CONFIRMED" | "CANCELLED"): void {
    if (!this.deps.emailsCustomers) return;
    const email = orderEmail(order, kind);
    this.deps.outbox.addCommand(email.queue, email.command);
  }

  private committed(orderId: string, wroteEvent: boolean): void {
    if (wroteEvent) this.deps.relay.notify();
    this.deps.changes.changed(orderId);
  }
}

/**
 * callerLeft tells whether the caller's own deadline or cancel ended the reservation: inventory's answer is still
 * on its way then, and the reserver keeps waiting for it up to RESERVE_TIMEOUT_MS.
 */
function callerLeft(call: CallOptions): boolean {
  return call.signal?.aborted === true || (call.deadline !== undefined && Date.now() >= call.deadline.getTime());
}

function keyReused() {
  return invalidArgument("idempotency-key", "was already used with a different request");
}

/** unknownProduct is the caller's bad argument: it names the line, as the caller's API version spells it. */
function unknownProduct(command: CreateOrderCommand, productId: string | undefined, message: string) {
  const index = command.lines.findIndex((line) => line.productId === productId);
  if (index < 0) return invalidArgument(command.linesField, message);
  return invalidArgument(`${command.linesField}[${index}].product_id`, `product "${productId}" not found`);
}
