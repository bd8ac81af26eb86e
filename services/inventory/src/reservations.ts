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
import { StockCommittedSchema, StockReleasedSchema, StockReservedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
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

/** OrderEffect says what an event about an order did to its reservation. */
export type OrderEffect = "committed" | "released" | "restocked" | "skipped" | "unknown" | "duplicate";

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

  /** commitForOrder turns the order's HELD reservation into a sale (PaymentAuthorized), once per event. */
  commitForOrder(consumer: string, event: { id: string; type: string }, orderId: string): OrderEffect {
    return this.onceForOrder(consumer, event, orderId, (reservation, changed) => {
      if (commitDecision(reservation.status) === "skip") return "skipped";
      const now = this.clock();
      this.deps.reservations.setStatus(reservation.reservationId, "COMMITTED", "", now);
      for (const line of reservation.lines) {
        this.deps.products.adjust(line.productId, { available: 0, reserved: -line.quantity }, now);
        changed.add(line.productId);
      }
      this.emit(StockCommittedSchema, reservation.orderId, {
        reservationId: reservation.reservationId,
        orderId: reservation.orderId,
        commitTime: timestampFromDate(now),
      });
      return "committed";
    });
  }

  /** releaseForOrder releases the order's HELD reservation (PaymentDeclined), once per event. */
  releaseForOrder(consumer: string, event: { id: string; type: string }, orderId: string, reason: string): OrderEffect {
    return this.onceForOrder(consumer, event, orderId, (reservation, changed) => {
      if (reservation.status !== "HELD") return "skipped";
      this.releaseHeld(reservation, reason, changed);
      return "released";
    });
  }

  /** cancelForOrder releases a HELD reservation or restocks a COMMITTED one (OrderCancelled), once per event. */
  cancelForOrder(consumer: string, event: { id: string; type: string }, orderId: string, reason: string): OrderEffect {
    return this.onceForOrder(consumer, event, orderId, (reservation, changed) => {
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
    this.deps.outbox.add({
      ...toOutgoingEvent(schema, message, { source: EVENT_SOURCE, subject: orderId }),
      topic: Topics.inventoryEvents,
    });
  }

  /** apply runs `work` in one transaction and, once it committed, tells watchers and the relay what changed. */
  private apply<T>(work: (changed: Set<string>) => T): T {
    const changed = new Set<string>();
    const result = this.deps.db.transaction(() => work(changed))();
    if (changed.size > 0) {
      this.deps.publishLevels(changed);
      this.deps.eventsWritten();
    }
    return result;
  }
}
