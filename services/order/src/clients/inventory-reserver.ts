import { Code, ConnectError } from "@connectrpc/connect";
import { ConsecutiveBreaker, circuitBreaker, handleWhen, isBrokenCircuitError, type CircuitBreakerPolicy } from "cockatiel";
import type { Logger } from "#shared/logger.js";
import { codeOf, deadlineExceeded, isGrpcStatusError, unavailable } from "#shared/errors.js";
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
}

interface Pending {
  readonly request: ReserveStockRequestInit;
  readonly resolve: (response: ReserveStockResponse) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
  sends: number;
}

/** isTransient tells a failure that says "inventory is unwell" (the breaker counts those) from a business answer. */
function isTransient(error: unknown): boolean {
  const code = codeOf(error);
  return code === Code.Unavailable || code === Code.DeadlineExceeded;
}

function describe(error: Error | undefined): string {
  if (error === undefined) return "stream ended";
  if (isGrpcStatusError(error)) return error.details;
  return error instanceof ConnectError ? error.rawMessage : error.message;
}

/**
 * InventoryReserver talks to inventory for the order service. It keeps ONE long-lived ReserveStock stream open and
 * multiplexes reservations over it, matching answers by reservation_id. When the stream breaks it reopens it (with
 * backoff) and resends what was in flight, which is safe because inventory treats a repeated reservation_id as the
 * same reservation. Each request has its own deadline. A cockatiel circuit breaker around every call makes a dead
 * inventory fail fast with UNAVAILABLE instead of holding each CreateOrder until its deadline.
 */
export class InventoryReserver {
  private readonly pending = new Map<string, Pending>();
  private readonly breaker: CircuitBreakerPolicy;
  private readonly maxSends: number;
  private stream: ReserveStream | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenAttempt = 0;
  private closed = false;

  constructor(
    private readonly client: InventoryClient,
    private readonly options: ReserverOptions = {},
  ) {
    this.maxSends = options.maxSends ?? 5;
    this.breaker = circuitBreaker(handleWhen(isTransient), {
      halfOpenAfter: options.halfOpenAfterMs ?? 5_000,
      breaker: new ConsecutiveBreaker(options.breakerThreshold ?? 5),
    });
    this.breaker.onStateChange((state) => options.logger?.warn({ breakerState: state }, "inventory circuit breaker changed state"));
  }

  /**
   * reserve sends one reservation and resolves with inventory's answer (HELD or REJECTED with an error code). It
   * rejects with DEADLINE_EXCEEDED when no answer came by `deadline`, with the abort reason when `signal` fires, and
   * with UNAVAILABLE when inventory cannot be reached or the circuit is open.
   */
  reserve(
    request: ReserveStockRequestInit & { reservationId: string },
    deadline: Date,
    signal?: AbortSignal,
  ): Promise<ReserveStockResponse> {
    return this.guard(() => this.send(request, deadline, signal));
  }

  /** release gives a held reservation back (ReleaseReservation is idempotent, so grpc-js may retry it). */
  async release(reservationId: string, reason: string): Promise<void> {
    const deadline = new Date(Date.now() + (this.options.releaseTimeoutMs ?? 2_000));
    await this.guard(() => this.client.releaseReservation({ reservationId, reason }, { deadline }));
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
    if (this.closed) throw unavailable("inventory client is closed");
    try {
      return await this.breaker.execute(call);
    } catch (error) {
      if (isBrokenCircuitError(error)) {
        throw unavailable("inventory is unavailable (circuit open after repeated failures)", error);
      }
      throw error;
    }
  }

  private send(
    request: ReserveStockRequestInit & { reservationId: string },
    deadline: Date,
    signal?: AbortSignal,
  ): Promise<ReserveStockResponse> {
    const id = request.reservationId;
    return new Promise((resolve, reject) => {
      if (this.pending.has(id)) return reject(new Error(`reservation ${id} is already in flight`));
      if (signal?.aborted) return reject(signal.reason);
      const waitMs = deadline.getTime() - Date.now();
      const timer = setTimeout(
        () => {
          const p = this.pending.get(id);
          if (p) {
            this.settle(id, p, () => p.reject(deadlineExceeded("inventory did not answer the reservation in time")));
          }
        },
        Math.max(0, waitMs),
      );
      const onAbort = () => {
        const p = this.pending.get(id);
        if (p) this.settle(id, p, () => p.reject(signal?.reason));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const p: Pending = {
        request,
        resolve: (response) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(response);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
        timer,
        sends: 0,
      };
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
    const stream: ReserveStream = this.client.openReserveStream({
      onResponse: (response) => {
        this.reopenAttempt = 0;
        const p = this.pending.get(response.reservationId);
        // An answer nobody waits for (its caller timed out, or a resend's duplicate) is dropped.
        if (p) this.settle(response.reservationId, p, () => p.resolve(response));
      },
      onClose: (error) => this.onBroken(stream, error),
    });
    this.stream = stream;
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
