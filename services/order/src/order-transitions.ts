import { notFound } from "../../shared/src/errors.js";
import type { OutboxEvent } from "../../shared/src/events/outbox.js";
import { cancelByCustomer, type Order, type PaymentOutcome } from "./domain/order.js";
import { orderCancelledEvent, orderConfirmedEvent } from "./order-events.js";
import type { OrderDeps } from "./order-deps.js";

/** InboxEvent identifies a consumed event for the inbox. */
export interface InboxEvent {
  readonly id: string;
  readonly type: string;
  readonly traceparent?: string | undefined;
}

/** PaymentResult is what a payment event did: an outcome, or nothing because it was a duplicate or about no order. */
export type PaymentResult = PaymentOutcome | { kind: "duplicate" } | { kind: "unknown-order" };

/**
 * OrderTransitions changes stored orders: each change, its history row and its outbox event commit together, and
 * watchers hear about it only after the commit.
 */
export class OrderTransitions {
  constructor(private readonly deps: OrderDeps) {}

  /** cancel runs CancelOrder; cancelling a cancelled order returns it unchanged and writes nothing. */
  cancel(orderId: string, reason: string, traceparent?: string): Order {
    const { db, orders, outbox } = this.deps;
    const result = db.transaction(() => {
      const order = orders.get(orderId);
      if (!order) throw notFound(`order "${orderId}"`);
      const outcome = cancelByCustomer(order, reason, new Date());
      if (outcome.kind === "unchanged") return { order, changed: false };
      orders.update(outcome.order);
      outbox.add(orderCancelledEvent(outcome.order, outcome.refundPaymentId, traceparent));
      return { order: outcome.order, changed: true };
    })();
    if (result.changed) {
      this.committed(orderId, true);
      this.deps.logger.info({ orderId, paid: result.order.paymentId !== "" }, "order cancelled by the customer");
    }
    return result.order;
  }

  /**
   * applyPayment applies a payment event once (inbox) to the order it names, with its outbox event in the same
   * transaction. `decide` is the domain rule for this event type.
   */
  applyPayment(consumer: string, event: InboxEvent, orderId: string, decide: (order: Order) => PaymentOutcome): PaymentResult {
    const { orders, outbox, inbox } = this.deps;
    const { ran, result } = inbox.once<PaymentResult>(consumer, event, () => {
      const order = orders.get(orderId);
      if (!order) return { kind: "unknown-order" };
      const outcome = decide(order);
      let outgoing: OutboxEvent | undefined;
      if (outcome.kind === "confirmed") outgoing = orderConfirmedEvent(outcome.order, event.traceparent);
      if (outcome.kind === "cancelled") outgoing = orderCancelledEvent(outcome.order, "", event.traceparent);
      if (outcome.kind !== "ignored") orders.update(outcome.order);
      if (outgoing) outbox.add(outgoing);
      return outcome;
    });
    if (!ran || result === undefined) return { kind: "duplicate" };
    if (result.kind === "confirmed" || result.kind === "cancelled" || result.kind === "payment-recorded") {
      this.committed(orderId, result.kind !== "payment-recorded");
    }
    return result;
  }

  private committed(orderId: string, wroteEvent: boolean): void {
    if (wroteEvent) this.deps.relay.notify();
    this.deps.changes.changed(orderId);
  }
}
