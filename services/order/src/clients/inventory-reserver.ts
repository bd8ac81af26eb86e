import { Code, ConnectError } from "@connectrpc/connect";
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen, isBrokenCircuitError, type CircuitBreakerPolicy } from "cockatiel";
import type { BreakerState } from "#shared/metrics/index.js";
import type { Logger } from "#shared/logger.js";
import { codeOf, deadlineExceeded, fromStatusName, isGrpcStatusError, unavailable } from "#shared/errors.js";
import { childOf, currentTrace, formatTraceparent, newTrace, runWithTrace } from "#shared/trace-context.js";
import type { Spans } from "#shared/tracing/index.js";
import { endRpcSpan, startClientSpan } from "#shared/tracing/rpc-spans.js";
import type { InventoryClient, ReserveStockRequestInit, ReserveStockResponse, ReserveStream } from "./inventory-client.js";

/** ReserverOptions tune the stream, the breaker and the resends. */
export interface ReserverOptions {
  logger?: Logger | undefined;
  /** breakerThreshold: consecutive transient failures that open the circuit (default 5). */
  breakerThreshold?: number;
  /** halfOpenAfterMs: how long an open circuit fails fast before letting one call probe (default 5 s). */
  halfOpenAfterMs?: number;
  /**
   * maxSends: how many streams one request may be sent on before it fails UNAVAILABLE (default 5: with the reopen
   * backoff of 0, 100, 200, 400 ms that rides out a quick inventory restart, yet fails well inside a 3 s deadline).
   */
  maxSends?: number;
  /** releaseTimeoutMs: the deadline of a ReleaseReservation call (default 2 s). */
  releaseTimeoutMs?: number;
  /**
   * reserveTimeoutMs: the service's own bound on one reservation, RESERVE_TIMEOUT_MS (default 3 s). Only this bound
   * expiring tells that inventory is slow; a caller's shorter deadline says nothing about inventory.
   */
  reserveTimeoutMs?: number;
  /** spans, when tracing is on, give each reservation a CLIENT span in the trace of the order it is for. */
  spans?: Spans | undefined;
  /** target is inventory's address, for the spans' `server.address`. */
  target?: string | undefined;
}

const RESERVE_STOCK = "shop.inventory.v1.InventoryService/ReserveStock";

/** ReserveLimits are the caller's: its deadline and its cancel. They end the caller's wait, never the breaker's. */
export interface ReserveLimits {
  readonly deadline?: Date | undefined;
  readonly signal?: AbortSignal | undefined;
}

interface Pending {
  readonly request: ReserveStockRequestInit;
  readonly resolve: (response: ReserveStockResponse) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
  sends: number;
}

/**
 * isTransient tells a failure that says "inventory is unwell" (the breaker counts those) from a business answer.
 * Only the reserver's own failures reach the breaker: UNAVAILABLE when no stream carried the request, and
 * DEADLINE_EXCEEDED when the service's own bound passed. The caller's deadline and cancel end only the caller's wait.
 */
function isTransient(error: unknown): boolean {
  const code = codeOf(error);
  return code === Code.Unavailable || code === Code.DeadlineExceeded;
}

/** unsent holds the errors of reservations that were never sent (circuit open, caller gone), so nothing is held. */
const unsent = new WeakSet<object>();

/** wasNeverSent tells whether a reserve failure happened before anything reached inventory (the circuit was open). */
export function wasNeverSent(error: unknown): boolean {
  return typeof error === "object" && error !== null && unsent.has(error);
}

function describe(error: Error | undefined): string {
  if (error === undefined) return "stream ended";
  if (isGrpcStatusError(error)) return error.details;
  return error instanceof ConnectError ? error.rawMessage : error.message;
}

const BREAKER_STATES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Open]: "open",
  [CircuitState.Isolated]: "isolated",
};

/**
 * InventoryReserver talks to inventory for the order service. It keeps ONE long-lived ReserveStock stream open and
 * multiplexes reservations over it, matching answers by reservation_id. When the stream breaks it reopens it (with
 * backoff) and resends what was in flight, which is safe because inventory treats a repeated reservation_id as the
 * same reservation. A cockatiel circuit breaker around every reservation makes a dead inventory fail fast with
 * UNAVAILABLE "inventory circuit open" instead of holding each CreateOrder until its deadline.
 *
 * The breaker judges inventory, not the callers: each reservation is measured against the service's own bound
 * (`reserveTimeoutMs`) and keeps waiting for inventory's answer after its caller's deadline passed or it cancelled,
 * so a client with a 5 ms deadline neither opens the circuit for everyone nor ends a half-open probe.
 */
export class InventoryReserver {
  private readonly pending = new Map<string, Pending>();
  private readonly breaker: CircuitBreakerPolicy;
  private readonly maxSends: number;
  private readonly reserveTimeoutMs: number;
  private readonly halfOpenAfterMs: number;
  private readonly threshold: number;
  /** opened is when the circuit last opened and the failure that opened it, for the message callers get. */
  private opened: { at: number; reason: string } | undefined;
  private stream: ReserveStream | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenAttempt = 0;
  private closed = false;

  constructor(
    private readonly client: InventoryClient,
    private readonly options: ReserverOptions = {},
  ) {
    this.maxSends = options.maxSends ?? 5;
    this.reserveTimeoutMs = options.reserveTimeoutMs ?? 3_000;
    this.halfOpenAfterMs = options.halfOpenAfterMs ?? 5_000;
    this.threshold = options.breakerThreshold ?? 5;
    this.breaker = circuitBreaker(handleWhen(isTransient), {
      halfOpenAfter: this.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(this.threshold),
    });
    this.breaker.onBreak((reason) => {
      const error = "error" in reason ? reason.error : undefined;
      this.opened = { at: Date.now(), reason: error instanceof Error ? describe(error) : "failures" };
    });
    this.breaker.onStateChange((state) => options.logger?.warn({ breakerState: state }, "inventory circuit breaker changed state"));
  }

  /** breakerState is the circuit's state now, in the metrics' words (exported as shopmesh_circuit_breaker_state). */
  get breakerState(): BreakerState {
    return BREAKER_STATES[this.breaker.state];
  }

  /**
   * reserve sends one reservation and resolves with inventory's answer (HELD or REJECTED with an error code). It
   * rejects with DEADLINE_EXCEEDED when no answer came within `reserveTimeoutMs` or by the caller's deadline, with
   * the abort reason when the caller's signal fires, and with UNAVAILABLE when inventory cannot be reached or the
   * circuit is open. Only the first and the last count against inventory.
   */
  reserve(request: ReserveStockRequestInit & { reservationId: string }, limits: ReserveLimits = {}): Promise<ReserveStockResponse> {
    // The stream is shared by every order, so each reservation carries its own order's trace: inventory serves it
    // as a child of this CLIENT span (the `traceparent` field), whatever trace opened the stream.
    const current = currentTrace();
    const own = current === undefined ? newTrace() : childOf(current);
    const spans = this.options.spans;
    const span = spans && startClientSpan(spans, RESERVE_STOCK, this.options.target ?? "inventory", own, current);
    const answer = this.answer({ ...request, traceparent: formatTraceparent(own) }, limits);
    if (span) {
      span.setAttributes({
        "shop.reservation_id": request.reservationId,
        ...(request.orderId ? { "shop.order_id": request.orderId } : {}),
      });
      answer.then(
        (response) => endRpcSpan(span, "client", response.errorCode ? (fromStatusName(response.errorCode) ?? 2) : 0, response.errorMessage),
        (error: unknown) => endRpcSpan(span, "client", codeOf(error) ?? 2, error instanceof Error ? describe(error) : String(error)),
      );
    }
    return answer;
  }

  /** answer is {@link reserve} without its span: the breaker's attempt, bounded by the caller's deadline and cancel. */
  private answer(request: ReserveStockRequestInit & { reservationId: string }, limits: ReserveLimits): Promise<ReserveStockResponse> {
    const { deadline, signal } = limits;
    if (signal?.aborted) {
      if (typeof signal.reason === "object" && signal.reason !== null) unsent.add(signal.reason);
      return Promise.reject(signal.reason);
    }
    const attempt = this.guard(() => this.send(request, new Date(Date.now() + this.reserveTimeoutMs)));
    if (deadline === undefined && signal === undefined) return attempt;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      const timer =
        deadline === undefined
          ? undefined
          : setTimeout(
              () => {
                done();
                reject(deadlineExceeded("the caller's deadline passed before inventory answered the reservation"));
              },
              Math.max(0, deadline.getTime() - Date.now()),
            );
      signal?.addEventListener("abort", onAbort, { once: true });
      attempt.then(
        (response) => {
          done();
          resolve(response);
        },
        (error: unknown) => {
          done();
          reject(error);
        },
      );
    });
  }

  /**
   * release gives a held reservation back. It does not pass the breaker: releases come from one background job
   * with its own backoff (stock-releases.ts), and stock should come back as soon as inventory takes the call, not
   * after a CreateOrder happened to probe the circuit. ReleaseReservation is idempotent, so grpc-js may retry it.
   */
  async release(reservationId: string, reason: string): Promise<void> {
    if (this.closed) throw unavailable("inventory client is closed");
    const deadline = new Date(Date.now() + (this.options.releaseTimeoutMs ?? 2_000));
    await this.client.releaseReservation({ reservationId, reason }, { deadline });
  }

  /** close fails what is in flight with UNAVAILABLE and ends the stream; later calls fail at once. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    for (const [id, p] of this.pending) this.settle(id, p, () => p.reject(unavailable("order service is shutting down")));
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
  }

  private async guard<T>(call: () => Promise<T>): Promise<T> {
    if (this.closed) {
      const failure = unavailable("inventory client is closed");
      unsent.add(failure);
      throw failure;
    }
    try {
      return await this.breaker.execute(call);
    } catch (error) {
      if (isBrokenCircuitError(error)) {
        const failure = unavailable(this.circuitOpenMessage(), error);
        unsent.add(failure);
        throw failure;
      }
      throw error;
    }
  }

  /** circuitOpenMessage names the open circuit, what opened it and when it lets a call probe inventory again. */
  private circuitOpenMessage(): string {
    const openedAt = this.opened?.at ?? Date.now();
    const retryAfterS = Math.max(1, Math.ceil((openedAt + this.halfOpenAfterMs - Date.now()) / 1_000));
    const reason = this.opened?.reason ?? "failures";
    return `inventory circuit open: ${this.threshold} consecutive failures, the last "${reason}"; retry after ${retryAfterS} s`;
  }

  /** send is one reservation as the breaker sees it: bounded by the service's own deadline only. */
  private send(request: ReserveStockRequestInit & { reservationId: string }, deadline: Date): Promise<ReserveStockResponse> {
    const id = request.reservationId;
    return new Promise((resolve, reject) => {
      if (this.pending.has(id)) return reject(new Error(`reservation ${id} is already in flight`));
      const timer = setTimeout(
        () => {
          const p = this.pending.get(id);
          if (p) {
            const message = `inventory did not answer the reservation within RESERVE_TIMEOUT_MS (${this.reserveTimeoutMs} ms)`;
            this.settle(id, p, () => p.reject(deadlineExceeded(message)));
          }
        },
        Math.max(0, deadline.getTime() - Date.now()),
      );
      const p: Pending = { request, resolve, reject, timer, sends: 0 };
      this.pending.set(id, p);
      // The open stream carries the request now; a stream being reopened picks it up when it resends.
      if (this.reopenTimer === undefined) this.write(p);
    });
  }

  private settle(id: string, p: Pending, action: () => void): void {
    clearTimeout(p.timer);
    this.pending.delete(id);
    action();
  }

  private write(p: Pending): void {
    p.sends += 1;
    try {
      this.ensureStream().write(p.request);
    } catch (error) {
      // Writing to a stream that just died: its 'error' handler resends or fails the request.
      this.options.logger?.debug({ err: error, reservationId: p.request.reservationId }, "write to ReserveStock stream failed");
    }
  }

  private ensureStream(): ReserveStream {
    if (this.stream) return this.stream;
    // Opened in a trace of its own: the stream outlives the reservation that happens to open it, and its spans would
    // otherwise sit open in that order's trace for as long as the process runs.
    const stream: ReserveStream = runWithTrace(newTrace(), () => this.openStream());
    this.stream = stream;
    return stream;
  }

  private openStream(): ReserveStream {
    const stream: ReserveStream = this.client.openReserveStream({
      onResponse: (response) => {
        this.reopenAttempt = 0;
        const p = this.pending.get(response.reservationId);
        // An answer nobody waits for (its caller timed out, or a resend's duplicate) is dropped.
        if (p) this.settle(response.reservationId, p, () => p.resolve(response));
      },
      onClose: (error) => this.onBroken(stream, error),
    });
    return stream;
  }

  /** onBroken drops a dead stream and, if requests are waiting, reopens it and resends them (or gives up on them). */
  private onBroken(stream: ReserveStream, failure: unknown): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    if (this.closed) return;
    const error = failure instanceof Error ? failure : undefined;
    this.options.logger?.warn(
      { err: error?.message ?? "stream ended by the server", inFlight: this.pending.size },
      "ReserveStock stream broke",
    );
    for (const [id, p] of this.pending) {
      if (p.sends >= this.maxSends) {
        this.settle(id, p, () => p.reject(unavailable(`inventory is unavailable (${describe(error)})`)));
      }
    }
    if (this.pending.size === 0) return; // reopened lazily by the next reservation
    const delayMs = this.reopenAttempt === 0 ? 0 : Math.min(2_000, 100 * 2 ** (this.reopenAttempt - 1));
    this.reopenAttempt += 1;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.closed) return;
      this.options.logger?.info({ resent: this.pending.size }, "ReserveStock stream reopened; resending in-flight reservations");
      for (const p of this.pending.values()) this.write(p);
    }, delayMs);
  }
}
