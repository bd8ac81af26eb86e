import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { failedPrecondition, invalidArgument, notFound } from "#shared/errors.js";
import { eventSource, toOutgoingEvent } from "#shared/events/event-bus.js";
import type { Inbox } from "#shared/events/inbox.js";
import type { OutboxStore } from "#shared/events/outbox.js";
import { Topics } from "#shared/events/topics.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import {
  StockCommitFailedSchema,
  StockCommittedSchema,
  StockReleasedSchema,
  StockReservedSchema,
} from "#gen/shop/inventory/v1/inventory_events_pb.js";
import {
  cancelDecision,
  commitDecision,
  planReservation,
  releaseDecision,
  sameRequest,
  validateReserveRequest,
  type Reservation,
  type ReserveRequest,
} from "./domain/reservation.js";
import { toProtoLines } from "./proto-mapping.js";
import type { ProductStore } from "./store/product-store.js";
import type { ReservationStore } from "./store/reservation-store.js";

/** EVENT_SOURCE is the CloudEvents `source` of everything inventory publishes. */
const EVENT_SOURCE = eventSource("inventory");

/** RESTOCK_REASON marks a committed reservation whose stock came back because its order was cancelled after payment. */
export const RESTOCK_REASON = "restocked after cancellation";

/** ReserveOutcome answers one ReserveStock request: the reservation (HELD, or REJECTED unstored) or an error. */
export interface ReserveOutcome {
  readonly reservation?: Reservation;
  readonly error?: ConnectError;
}

/**
 * OrderEffect says what an event about an order did to its reservation: "recommitted" is a released reservation
 * reserved again and sold when its payment came late; "commit-failed" is one whose stock was gone by then.
 */
export type OrderEffect = "committed" | "recommitted" | "commit-failed" | "released" | "restocked" | "skipped" | "unknown" | "duplicate";

/** ReservationsDeps are what the reservation use cases write to and notify. */
export interface ReservationsDeps {
  readonly db: SqliteDatabase;
  readonly products: ProductStore;
  readonly reservations: ReservationStore;
  readonly outbox: OutboxStore;
  readonly inbox: Inbox;
  /** publishLevels sends committed stock levels to WatchStock streams. */
  readonly publishLevels: (productIds: Iterable<string>) => void;
  /** eventsWritten wakes the outbox relay after a commit that wrote events. */
  readonly eventsWritten: () => void;
  readonly clock?: () => Date;
}

/**
 * Reservations holds the stock reservation use cases. Each runs in one SQLite transaction that changes the stock,
 * the reservation and the outbox together; WatchStock and the relay hear about it only after the commit.
 */
export class Reservations {
  private readonly clock: () => Date;
  /** eventsPending is set when the running transaction wrote an outbox row. */
  private eventsPending = false;

  constructor(private readonly deps: ReservationsDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /**
   * reserve applies one request all or nothing. A resend of a stored reservation id with the same lines returns the
   * stored reservation without reserving again; with other lines it is INVALID_ARGUMENT. Missing stock answers a
   * REJECTED reservation with FAILED_PRECONDITION, which is not stored, so a resend after a restock may succeed.
   */
  reserve(request: ReserveRequest): ReserveOutcome {
    try {
      validateReserveRequest(request);
      return this.apply((changed) => {
        const existing = this.deps.reservations.get(request.reservationId);
        if (existing) {
          if (!sameRequest(existing, request)) {
            throw invalidArgument("reservation_id", `"${request.reservationId}" was already used for other lines or another order`);
          }
          return { reservation: existing };
        }
        const now = this.clock();
        const plan = planReservation(request, (productId) => this.deps.products.get(productId));
        const base = { reservationId: request.reservationId, orderId: request.orderId, lines: plan.lines, createdAt: now, updatedAt: now };
        if (plan.kind === "rejected") {
          return { reservation: { ...base, status: "REJECTED", reason: plan.message }, error: failedPrecondition(plan.message) };
        }
        const reservation: Reservation = { ...base, status: "HELD", reason: "" };
        this.deps.reservations.insert(reservation);
        for (const line of reservation.lines) {
          this.deps.products.adjust(line.productId, { available: -line.quantity, reserved: line.quantity }, now);
          changed.add(line.productId);
        }
        this.emit(StockReservedSchema, reservation.orderId, {
          reservationId: reservation.reservationId,
          orderId: reservation.orderId,
          lines: toProtoLines(reservation.lines),
          reserveTime: timestampFromDate(now),
        });
        return { reservation };
      });
    } catch (error) {
      if (error instanceof ConnectError) return { error };
      throw error;
    }
  }

  get(reservationId: string): Reservation {
    if (reservationId.trim() === "") throw invalidArgument("reservation_id", "is required");
    const reservation = this.deps.reservations.get(reservationId);
    if (!reservation) throw notFound(`reservation "${reservationId}"`);
    return reservation;
  }

  /** release gives a HELD reservation's stock back; RELEASED is a no-op, COMMITTED is FAILED_PRECONDITION. */
  release(reservationId: string, reason: string): Reservation {
    return this.apply((changed) => {
      const reservation = this.get(reservationId);
      if (releaseDecision(reservationId, reservation.status) === "noop") return reservation;
      return this.releaseHeld(reservation, reason || "released by request", changed);
    });
  }

  /**
   * commitForOrder sells the paid order's stock (PaymentAuthorized), once per event: a HELD reservation is committed;
   * a RELEASED one of an open order (expired before the payment came) is reserved again from the available stock and
   * committed, or, when the stock is gone, closed with StockCommitFailed so the order service cancels the order and
   * payment refunds it (docs/architecture.md, "The order flow").
   */
  commitForOrder(consumer: string, event: { id: string; type: string }, orderId: string, paymentId: string): OrderEffect {
    return this.onceForOrder(consumer, event, orderId, (reservation, changed) => {
      const decision = commitDecision(reservation.status, this.deps.reservations.isClosed(orderId));
      if (decision === "skip") return "skipped";
      if (decision === "re-reserve") return this.reserveAgainAndCommit(reservation, paymentId, changed);
      this.commit(reservation, { available: 0, reserved: -1 }, "", changed);
      return "committed";
    });
  }

  /** releaseForOrder releases the order's HELD reservation (PaymentDeclined), once per event. */
  releaseForOrder(consumer: string, event: { id: string; type: string }, orderId: string, reason: string): OrderEffect {
    return this.onceForOrder(consumer, event, orderId, (reservation, changed) => {
      this.deps.reservations.closeOrder(orderId, reason, this.clock());
      if (reservation.status !== "HELD") return "skipped";
      this.releaseHeld(reservation, reason, changed);
      return "released";
    });
  }

  /** cancelForOrder releases a HELD reservation or restocks a COMMITTED one (OrderCancelled), once per event. */
  cancelForOrder(consumer: string, event: { id: string; type: string }, orderId: string, reason: string): OrderEffect {
    return this.onceForOrder(consumer, event, orderId, (reservation, changed) => {
      this.deps.reservations.closeOrder(orderId, reason, this.clock());
      const decision = cancelDecision(reservation.status);
      if (decision === "skip") return "skipped";
      if (decision === "release") {
        this.releaseHeld(reservation, reason, changed);
        return "released";
      }
      const now = this.clock();
      this.deps.reservations.setStatus(reservation.reservationId, "RELEASED", RESTOCK_REASON, now);
      for (const line of reservation.lines) {
        this.deps.products.adjust(line.productId, { available: line.quantity, reserved: 0 }, now);
        changed.add(line.productId);
      }
      this.emitReleased(reservation, RESTOCK_REASON, now);
      return "restocked";
    });
  }

  /** releaseExpired releases HELD reservations older than `ttlMs`; returns how many it released. */
  releaseExpired(ttlMs: number, limit = 500): number {
    const cutoff = new Date(this.clock().getTime() - ttlMs);
    let released = 0;
    for (const reservationId of this.deps.reservations.expiredIds(cutoff, limit)) {
      // One transaction each: a reservation committed meanwhile is re-read and left alone.
      this.apply((changed) => {
        const reservation = this.deps.reservations.get(reservationId);
        if (reservation?.status !== "HELD") return;
        this.releaseHeld(reservation, "reservation expired", changed);
        released++;
      });
    }
    return released;
  }

  private onceForOrder(
    consumer: string,
    event: { id: string; type: string },
    orderId: string,
    effect: (reservation: Reservation, changed: Set<string>) => OrderEffect,
  ): OrderEffect {
    return this.apply((changed) => {
      const outcome = this.deps.inbox.once(consumer, event, () => {
        const reservation = this.deps.reservations.forOrder(orderId);
        return reservation ? effect(reservation, changed) : "unknown";
      });
      return outcome.ran ? (outcome.result ?? "skipped") : "duplicate";
    });
  }

  /**
   * reserveAgainAndCommit takes a released reservation's lines from the available stock, all or nothing, straight
   * into a sale. The lines keep the prices the customer was charged. Without the stock, the order is closed and
   * StockCommitFailed names what was short.
   */
  private reserveAgainAndCommit(reservation: Reservation, paymentId: string, changed: Set<string>): OrderEffect {
    const plan = planReservation(reservation, (productId) => this.deps.products.get(productId));
    if (plan.kind === "held") {
      this.commit(
        reservation,
        { available: -1, reserved: 0 },
        `reserved again when paid after its release (${reservation.reason})`,
        changed,
      );
      return "recommitted";
    }
    const now = this.clock();
    const reason = `stock commit failed: ${plan.message}`;
    this.deps.reservations.closeOrder(reservation.orderId, reason, now);
    this.deps.reservations.setStatus(reservation.reservationId, "RELEASED", reason, now);
    this.emit(StockCommitFailedSchema, reservation.orderId, {
      reservationId: reservation.reservationId,
      orderId: reservation.orderId,
      paymentId,
      reason: plan.message,
      failTime: timestampFromDate(now),
    });
    return "commit-failed";
  }

  /** commit marks a reservation COMMITTED, adds `per` times each line's quantity to the levels, emits StockCommitted. */
  private commit(reservation: Reservation, per: { available: number; reserved: number }, reason: string, changed: Set<string>): void {
    const now = this.clock();
    this.deps.reservations.setStatus(reservation.reservationId, "COMMITTED", reason, now);
    for (const line of reservation.lines) {
      this.deps.products.adjust(line.productId, { available: per.available * line.quantity, reserved: per.reserved * line.quantity }, now);
      changed.add(line.productId);
    }
    this.emit(StockCommittedSchema, reservation.orderId, {
      reservationId: reservation.reservationId,
      orderId: reservation.orderId,
      commitTime: timestampFromDate(now),
    });
  }

  private releaseHeld(reservation: Reservation, reason: string, changed: Set<string>): Reservation {
    const now = this.clock();
    this.deps.reservations.setStatus(reservation.reservationId, "RELEASED", reason, now);
    for (const line of reservation.lines) {
      this.deps.products.adjust(line.productId, { available: line.quantity, reserved: -line.quantity }, now);
      changed.add(line.productId);
    }
    this.emitReleased(reservation, reason, now);
    return { ...reservation, status: "RELEASED", reason, updatedAt: now };
  }

  private emitReleased(reservation: Reservation, reason: string, now: Date): void {
    this.emit(StockReleasedSchema, reservation.orderId, {
      reservationId: reservation.reservationId,
      orderId: reservation.orderId,
      reason,
      releaseTime: timestampFromDate(now),
    });
  }

  private emit<Desc extends DescMessage>(schema: Desc, orderId: string, init: MessageInitShape<Desc>): void {
    const message = create(schema, init);
    this.eventsPending = true;
    this.deps.outbox.add({
      ...toOutgoingEvent(schema, message, { source: EVENT_SOURCE, subject: orderId }),
      topic: Topics.inventoryEvents,
    });
  }

  /** apply runs `work` in one transaction and, once it committed, tells watchers and the relay what changed. */
  private apply<T>(work: (changed: Set<string>) => T): T {
    const changed = new Set<string>();
    // An event may be written with no stock change (StockCommitFailed), so the relay's wake-up is tracked apart.
    this.eventsPending = false;
    let result: T;
    try {
      result = this.deps.db.transaction(() => work(changed))();
    } catch (error) {
      this.eventsPending = false;
      throw error;
    }
    if (changed.size > 0) this.deps.publishLevels(changed);
    if (this.eventsPending) this.deps.eventsWritten();
    this.eventsPending = false;
    return result;
  }
}
