import { Code } from "@connectrpc/connect";
import { codeOf } from "#shared/errors.js";
import type { Logger } from "#shared/logger.js";
import type { StockHold, StockHoldStore } from "./store/stock-hold-store.js";

/** StockReleasesOptions tune how often due releases are tried and how failures back off. */
export interface StockReleasesOptions {
  /** everyMs: how often the kit timer looks for due releases (default 1 s). */
  readonly everyMs?: number;
  /** firstBackoffMs: the wait after a first failed release, doubling per failure (default 1 s). */
  readonly firstBackoffMs?: number;
  /** maxBackoffMs: the longest wait between two attempts at one release (default 30 s). */
  readonly maxBackoffMs?: number;
  /** batch: how many releases one round tries at once (default 50). */
  readonly batch?: number;
}

/** StockReleasesDeps are the holds table, inventory's release and the reservation bound. */
export interface StockReleasesDeps {
  readonly holds: StockHoldStore;
  /**
   * release asks inventory to give the order's reservation back. It resolves when inventory released it (or it was
   * released already) and throws otherwise, NOT_FOUND meaning inventory holds nothing under that id.
   */
  readonly release: (orderId: string, reason: string) => Promise<void>;
  /** reserveTimeoutMs is RESERVE_TIMEOUT_MS: no reservation is sent later than this after it began. */
  readonly reserveTimeoutMs: number;
  readonly logger: Logger;
  readonly options?: StockReleasesOptions | undefined;
}

/**
 * SETTLE_MS is added to RESERVE_TIMEOUT_MS before a hold is trusted to be over: a reservation written to the stream
 * just before its bound may still be on its way when the bound passes.
 */
const SETTLE_MS = 1_000;

/**
 * StockReleases makes CreateOrder's compensation durable: a reservation that may be held at inventory with no order
 * to own it is recorded in the order database (stock_holds) before it is sent, and released until inventory confirms
 * it, by a kit timer, with backoff, across restarts. See docs/architecture.md, "Stock held with no order".
 *
 * A release does not pass the inventory circuit breaker: it is one background job with its own per-hold backoff,
 * which is the load protection the breaker would give, and stock comes back as soon as inventory takes the call.
 */
export class StockReleases {
  /** reserving holds the reservations this process still waits on: their rows are not orphans yet. */
  private readonly reserving = new Set<string>();
  private readonly firstBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly batch: number;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly deps: StockReleasesDeps) {
    this.firstBackoffMs = deps.options?.firstBackoffMs ?? 1_000;
    this.maxBackoffMs = deps.options?.maxBackoffMs ?? 30_000;
    this.batch = deps.options?.batch ?? 50;
  }

  /** everyMs is how often the timer should call {@link runDue}. */
  get everyMs(): number {
    return this.deps.options?.everyMs ?? 1_000;
  }

  /**
   * opening records a reservation about to be sent. Should this process die before the order is stored or the
   * release confirmed, the row becomes due once the reservation can no longer be in flight, and a later run frees it.
   */
  opening(orderId: string): void {
    const now = Date.now();
    this.deps.holds.open(orderId, now, now + this.deps.reserveTimeoutMs + SETTLE_MS);
    this.reserving.add(orderId);
  }

  /** stored drops the hold in the transaction that stores its order: from then on the order owns the stock. */
  stored(orderId: string): void {
    this.deps.holds.stored(orderId);
  }

  /**
   * abandoned ends the wait of a reservation whose caller left before inventory answered. Its answer may still come
   * (the reserver keeps waiting up to RESERVE_TIMEOUT_MS), so releasing now could overtake the reservation and have
   * to be repeated; the hold stays due at the time `opening` gave it, when one release settles it for good.
   */
  abandoned(orderId: string): void {
    this.reserving.delete(orderId);
  }

  /** answered ends the wait of a reservation; `held` false means inventory holds nothing (rejected or not sent). */
  answered(orderId: string, held: boolean): void {
    this.reserving.delete(orderId);
    if (!held) this.deps.holds.forget(orderId);
  }

  /**
   * release gives the order's reservation back now, and records it so that a release that fails is retried until
   * inventory confirms it. It never throws; the promise ends after the first attempt.
   */
  async release(orderId: string, reason: string): Promise<void> {
    this.reserving.delete(orderId);
    const now = Date.now();
    try {
      this.deps.holds.releaseAt(orderId, reason, now);
    } catch (error) {
      // The database refused (it may be why the order was not stored): still try once, from memory.
      this.deps.logger.error({ orderId, err: error }, "could not record the stock hold to release; trying once without a record");
      await this.deps.release(orderId, reason).catch((failure: unknown) => {
        this.deps.logger.warn({ orderId, err: failure }, "releasing the reservation failed; inventory's reservation TTL will free it");
      });
      return;
    }
    await this.attempt({ orderId, reservedAt: now, releaseAfter: now, reason, attempts: 0 });
  }

  /** runDue tries every due release once (the timer's tick); a call while one runs makes it run again after. */
  runDue(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.round();
      } while (this.again && !this.closed);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** close stops further rounds and closes the holds' bookkeeping connection; the rows stay for the next start. */
  close(): void {
    this.closed = true;
    this.deps.holds.close();
  }

  private async round(): Promise<void> {
    if (this.closed) return;
    let due: StockHold[];
    try {
      due = this.deps.holds.due(Date.now(), this.batch).filter((hold) => !this.reserving.has(hold.orderId));
    } catch (error) {
      this.deps.logger.error({ err: error }, "could not read the stock holds to release");
      return;
    }
    await Promise.all(due.map((hold) => this.attempt(hold)));
  }

  /** attempt releases one hold and records the outcome: gone when inventory confirmed, else put off with backoff. */
  private async attempt(hold: StockHold): Promise<void> {
    const { holds, logger } = this.deps;
    let outcome: { done: true; how: string } | { done: false; at: number; error: unknown };
    try {
      await this.deps.release(hold.orderId, hold.reason || "order not created");
      outcome = { done: true, how: "released" };
    } catch (error) {
      outcome = this.afterFailure(hold, error);
    }
    if (this.closed) return;
    try {
      if (outcome.done) {
        holds.forget(hold.orderId);
        logger.info({ orderId: hold.orderId, attempts: hold.attempts + 1, outcome: outcome.how }, "stock hold with no order given back");
      } else {
        const message = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
        holds.retryAt(hold.orderId, outcome.at, hold.attempts + 1, message);
        logger.warn(
          { orderId: hold.orderId, attempts: hold.attempts + 1, retryInMs: outcome.at - Date.now(), err: message },
          "releasing a stock hold with no order failed; retrying later",
        );
      }
    } catch (error) {
      logger.error({ orderId: hold.orderId, err: error }, "could not record the outcome of a stock release");
    }
  }

  private afterFailure(hold: StockHold, error: unknown): { done: true; how: string } | { done: false; at: number; error: unknown } {
    const code = codeOf(error);
    if (code === Code.NotFound) {
      // Nothing held under the id yet. Trusted only once the reservation can no longer arrive after this release.
      const settledAt = hold.reservedAt + this.deps.reserveTimeoutMs + SETTLE_MS;
      if (Date.now() >= settledAt) return { done: true, how: "nothing was held" };
      return { done: false, at: settledAt, error };
    }
    if (code === Code.FailedPrecondition || code === Code.InvalidArgument) {
      // Committed (or not a reservation id at all): there is nothing a release can do, and retrying cannot change it.
      this.deps.logger.error({ orderId: hold.orderId, err: error }, "a stock hold with no order cannot be released; leaving it");
      return { done: true, how: "not releasable" };
    }
    const backoff = Math.min(this.maxBackoffMs, this.firstBackoffMs * 2 ** hold.attempts);
    return { done: false, at: Date.now() + backoff, error };
  }
}
