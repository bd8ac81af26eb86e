import type { OrderCancelled, OrderCreated } from "#gen/shop/order/v1/order_events_pb.js";
import { notFound, permissionDenied } from "#shared/errors.js";
import type { Inbox } from "#shared/events/inbox.js";
import type { OutboxStore } from "#shared/events/outbox.js";
import type { Logger } from "#shared/logger.js";
import { fromProtoMoney } from "#shared/money.js";
import type { Actor } from "#shared/security/actor.js";
import { ADMIN_SCOPE, isAdmin } from "#shared/security/principal.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import { cardLast4, decideCharge, InvalidChargeError } from "./domain/card-processor.js";
import { planRefund, refunded, type Payment } from "./domain/payment.js";
import { paymentOutcomeEvent, paymentRefundedEvent } from "./events/payment-events.js";
import type { PaymentPage, PaymentStore } from "./store/payment-store.js";

/** EventRef is what the use cases need of a consumed event: its id and type, and the inbox name of its handler. */
export interface EventRef {
  readonly id: string;
  readonly type: string;
  readonly inboxConsumer: string;
}

/** PaymentsDeps are the collaborators of {@link Payments}. */
export interface PaymentsDeps {
  readonly db: SqliteDatabase;
  readonly store: PaymentStore;
  readonly outbox: OutboxStore;
  readonly inbox: Inbox;
  readonly currencies: ReadonlySet<string>;
  /** committed runs after every commit that wrote an outbox row: it wakes the relay. */
  readonly committed: () => void;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly newId?: () => string;
}

/** ChargeOutcome says what handling an OrderCreated did. */
export type ChargeOutcome =
  | { readonly kind: "charged"; readonly payment: Payment }
  | { readonly kind: "already-charged"; readonly payment: Payment }
  | { readonly kind: "duplicate-event" };

/** CancelOutcome says what handling an OrderCancelled did. */
export type CancelOutcome =
  | { readonly kind: "refunded"; readonly payment: Payment }
  | { readonly kind: "nothing-to-refund"; readonly payment: Payment | undefined }
  | { readonly kind: "duplicate-event" };

/**
 * Payments holds the service's use cases. Each write is one SQLite transaction that changes the payment and adds
 * its outbox row (and, for consumed events, the inbox row), so the state and the event announcing it commit together.
 */
export class Payments {
  private readonly now: () => Date;
  private readonly newId: () => string;

  constructor(private readonly deps: PaymentsDeps) {
    this.now = deps.now ?? (() => new Date());
    this.newId = deps.newId ?? (() => crypto.randomUUID());
  }

  /**
   * chargeOrder runs the card processor for a new order and records the payment with PaymentAuthorized or
   * PaymentDeclined. The inbox makes a redelivered event a no-op; the order lookup (backed by UNIQUE order_id)
   * makes a second OrderCreated for the same order, under another event id, a no-op as well: no double charge.
   * Throws (so the bus retries, then dead-letters) on an unsupported currency or a broken event.
   */
  chargeOrder(order: OrderCreated, event: EventRef): ChargeOutcome {
    const { store, outbox, inbox } = this.deps;
    const { ran, result } = inbox.once(event.inboxConsumer, event, (): ChargeOutcome => {
      if (order.orderId === "") throw new InvalidChargeError("order_id: missing");
      const existing = store.getByOrder(order.orderId);
      if (existing) return { kind: "already-charged", payment: existing };
      const amount = fromProtoMoney(order.total);
      if (!amount) throw new InvalidChargeError("total: missing");
      const decision = decideCharge({ cardToken: order.cardToken, amount }, this.deps.currencies);
      const now = this.now();
      const payment: Payment = {
        paymentId: this.newId(),
        orderId: order.orderId,
        amount,
        status: decision.outcome,
        declineReason: decision.outcome === "DECLINED" ? decision.reason : "",
        cardLast4: cardLast4(order.cardToken),
        createTime: now,
        updateTime: now,
      };
      store.insert(payment);
      outbox.add(paymentOutcomeEvent(payment));
      return { kind: "charged", payment };
    });
    if (!ran || !result) return { kind: "duplicate-event" };
    if (result.kind === "charged") this.deps.committed();
    return result;
  }

  /**
   * cancelOrder refunds the order's payment when it was authorized. A declined payment, a refunded one or no payment
   * at all (the order was cancelled before it was charged, or belongs to another deployment) needs nothing.
   */
  cancelOrder(cancel: OrderCancelled, event: EventRef): CancelOutcome {
    const { store, inbox } = this.deps;
    const { ran, result } = inbox.once(event.inboxConsumer, event, (): CancelOutcome => {
      const payment = store.getByOrder(cancel.orderId);
      if (payment?.status !== "AUTHORIZED") return { kind: "nothing-to-refund", payment };
      const reason = cancel.reason === "" ? "order cancelled" : `order cancelled: ${cancel.reason}`;
      return { kind: "refunded", payment: this.refundInTransaction(payment, reason) };
    });
    if (!ran || !result) return { kind: "duplicate-event" };
    if (result.kind === "refunded") this.deps.committed();
    return result;
  }

  /**
   * refund refunds an authorized payment in full (RefundPayment). A refunded payment comes back unchanged; a declined
   * one is FAILED_PRECONDITION; an unknown one NOT_FOUND. Payments are the shop's, not a customer's: a call acting for
   * a principal needs the admin scope (checked before the payment is looked up), one without a principal (order's
   * compensation, an operator) was judged by the access policy.
   */
  refund(paymentId: string, reason: string, actor: Actor = {}): { payment: Payment; changed: boolean } {
    const { db, store, logger } = this.deps;
    const { principal, method } = actor;
    if (principal !== undefined && !isAdmin(principal)) {
      logger.warn({ method, subject: principal.subject, paymentId }, "permission denied");
      throw permissionDenied(`refunding a payment needs the "${ADMIN_SCOPE}" scope`);
    }
    const outcome = db.transaction(() => {
      const payment = store.get(paymentId);
      if (!payment) throw notFound(`payment "${paymentId}"`);
      if (planRefund(payment) === "already-refunded") return { payment, changed: false };
      return { payment: this.refundInTransaction(payment, reason), changed: true };
    })();
    if (outcome.changed) this.deps.committed();
    return outcome;
  }

  /** get returns one payment or throws NOT_FOUND. */
  get(paymentId: string): Payment {
    const payment = this.deps.store.get(paymentId);
    if (!payment) throw notFound(`payment "${paymentId}"`);
    return payment;
  }

  /** list returns one page of payments, newest first. */
  list(options: { orderId?: string | undefined; afterSeq?: string | undefined; limit: number }): PaymentPage {
    return this.deps.store.list(options);
  }

  private refundInTransaction(payment: Payment, reason: string): Payment {
    const after = refunded(payment, this.now());
    this.deps.store.markRefunded(payment.paymentId, reason, after.updateTime);
    this.deps.outbox.add(paymentRefundedEvent(after));
    return after;
  }
}
