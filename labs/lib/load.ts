/**
 * OrderLoad is a lab's client: it creates orders at a steady rate through the order service's gRPC API, each with its
 * own idempotency key, retrying the same key on UNAVAILABLE and DEADLINE_EXCEEDED (the call may or may not have
 * reached the order service; the key makes the retry safe) with capped exponential backoff, and records every order
 * id CreateOrder accepted. It is bounded in count and in calls in flight, so a stuck mesh cannot make it pile up.
 */
import { status } from "@grpc/grpc-js";
import type { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import type { ServiceClient } from "#shared/grpc/client.js";
import { sleep } from "../../scripts/mesh/wait.js";

/** LoadOptions: how fast, how many, and what to buy. */
export interface LoadOptions {
  readonly ratePerSecond: number;
  /** maxOrders bounds the orders attempted over the whole run. */
  readonly maxOrders: number;
  readonly productIds: readonly string[];
  /** declineShare of orders pay with `tok_decline`, so the cancel path runs too (default 0.2). */
  readonly declineShare?: number;
  /** deadlineMs per attempt (default 5 s). */
  readonly deadlineMs?: number;
  /** attempts per order, the first included (default 8). */
  readonly attempts?: number;
  /** maxInFlight bounds concurrent orders; a tick finding it full is counted as skipped (default 50). */
  readonly maxInFlight?: number;
}

/** LoadStats is what the client saw. */
export interface LoadStats {
  attempted: number;
  accepted: number;
  /** retries counts extra attempts; maxAttemptsUsed is the most one order needed. */
  retries: number;
  maxAttemptsUsed: number;
  /** rejected counts final failures by gRPC code name (FAILED_PRECONDITION for out of stock is one). */
  rejected: Record<string, number>;
  skippedTicks: number;
  acceptedOrderIds: string[];
}

// RESOURCE_EXHAUSTED is order shedding load (CREATE_MAX_IN_FLIGHT): it asks to be retried later, and the idempotency
// key makes the retry safe.
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED]);

/** OrderLoad runs the load; see the file comment. */
export class OrderLoad {
  private readonly stats: LoadStats = {
    attempted: 0,
    accepted: 0,
    retries: 0,
    maxAttemptsUsed: 0,
    rejected: {},
    skippedTicks: 0,
    acceptedOrderIds: [],
  };
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: ServiceClient<typeof OrderService>,
    private readonly options: LoadOptions,
  ) {}

  /** start begins sending; it returns at once. */
  start(): void {
    this.running ??= this.tick();
  }

  /** stop sends no new orders, lets those in flight finish (their retries included) and returns what was seen. */
  async stop(): Promise<LoadStats> {
    this.stopping.abort();
    await this.running;
    await Promise.all(this.inFlight);
    return this.snapshot();
  }

  /** snapshot is the stats so far. */
  snapshot(): LoadStats {
    return { ...this.stats, rejected: { ...this.stats.rejected }, acceptedOrderIds: [...this.stats.acceptedOrderIds] };
  }

  private async tick(): Promise<void> {
    const intervalMs = 1_000 / this.options.ratePerSecond;
    const started = Date.now();
    for (let n = 0; n < this.options.maxOrders && !this.stopping.signal.aborted; n++) {
      // Paced against the start, not the previous tick, so slow calls do not lower the offered rate.
      await sleep(Math.max(0, started + n * intervalMs - Date.now()), this.stopping.signal);
      if (this.stopping.signal.aborted) break;
      if (this.inFlight.size >= (this.options.maxInFlight ?? 50)) {
        this.stats.skippedTicks++;
        continue;
      }
      const call = this.order(n).finally(() => this.inFlight.delete(call));
      this.inFlight.add(call);
    }
  }

  private async order(n: number): Promise<void> {
    this.stats.attempted++;
    const key = crypto.randomUUID();
    const products = this.options.productIds;
    const decline = (n * 7919) % 100 < (this.options.declineShare ?? 0.2) * 100;
    const request = {
      customerId: `lab-${n % 50}`,
      cardToken: decline ? "tok_decline" : "tok_visa",
      lines: [{ productId: products[n % products.length]!, quantity: 1 + (n % 3) }],
    };
    const attempts = this.options.attempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.client.createOrder(request, {
          timeoutMs: this.options.deadlineMs ?? 5_000,
          metadata: { "idempotency-key": key },
        });
        const orderId = response.order?.orderId;
        if (!orderId) throw Object.assign(new Error("CreateOrder answered without an order"), { code: status.INTERNAL });
        this.stats.accepted++;
        this.stats.acceptedOrderIds.push(orderId);
        this.stats.maxAttemptsUsed = Math.max(this.stats.maxAttemptsUsed, attempt);
        return;
      } catch (error) {
        const code = (error as { code?: number }).code ?? status.UNKNOWN;
        if (!RETRYABLE.has(code) || attempt >= attempts) {
          const name = status[code] ?? String(code);
          this.stats.rejected[name] = (this.stats.rejected[name] ?? 0) + 1;
          this.stats.maxAttemptsUsed = Math.max(this.stats.maxAttemptsUsed, attempt);
          return;
        }
        this.stats.retries++;
        await sleep(Math.min(3_000, 200 * 2 ** (attempt - 1)));
      }
    }
  }
}
