import { EventEmitter, once } from "node:events";

/** StockSnapshot is one product's stock level at one moment. */
export interface StockSnapshot {
  readonly productId: string;
  readonly available: number;
  readonly reserved: number;
  readonly updatedAt: Date;
}

/**
 * StockFeed is the in-process fan-out of committed stock changes to WatchStock streams. Writers publish only after
 * their transaction committed, so a watcher never sees a level that was rolled back.
 */
export class StockFeed {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per open WatchStock stream; a busy UI may hold many.
    this.emitter.setMaxListeners(0);
  }

  publish(levels: readonly StockSnapshot[]): void {
    for (const level of levels) this.emitter.emit("level", level);
  }

  /** subscribe calls `listener` for every published level until the returned function is called. */
  subscribe(listener: (level: StockSnapshot) => void): () => void {
    this.emitter.on("level", listener);
    return () => this.emitter.off("level", listener);
  }

  /** watch starts a StockWatch over the given products (every product when the set is empty). */
  watch(productIds: ReadonlySet<string>, signal: AbortSignal): StockWatch {
    return new StockWatch(this, productIds, signal);
  }

  /** listenerCount tells how many watchers are subscribed (tests check that streams clean up). */
  listenerCount(): number {
    return this.emitter.listenerCount("level");
  }
}

/**
 * StockWatch iterates the published levels of some products until its signal aborts or it is closed. It subscribes
 * when constructed, so a snapshot taken right after (in the same tick) misses no change. Pending levels are
 * coalesced per product: a slow reader gets each product's latest level, never an unbounded backlog.
 */
class StockWatch implements AsyncIterableIterator<StockSnapshot> {
  private readonly pending = new Map<string, StockSnapshot>();
  private readonly wake = new EventEmitter();
  private readonly unsubscribe: () => void;
  private closed = false;
  private readonly onAbort = () => this.close();

  constructor(
    feed: StockFeed,
    productIds: ReadonlySet<string>,
    private readonly signal: AbortSignal,
  ) {
    this.unsubscribe = feed.subscribe((level) => {
      if (productIds.size > 0 && !productIds.has(level.productId)) return;
      this.pending.delete(level.productId); // re-insert so the map keeps change order
      this.pending.set(level.productId, level);
      this.wake.emit("ready");
    });
    if (signal.aborted) this.close();
    else signal.addEventListener("abort", this.onAbort, { once: true });
  }

  async next(): Promise<IteratorResult<StockSnapshot, undefined>> {
    for (;;) {
      if (this.closed) return { done: true, value: undefined };
      const first = this.pending.values().next();
      if (!first.done) {
        this.pending.delete(first.value.productId);
        return { done: false, value: first.value };
      }
      await once(this.wake, "ready");
    }
  }

  async return(): Promise<IteratorResult<StockSnapshot, undefined>> {
    this.close();
    return { done: true, value: undefined };
  }

  /** close unsubscribes and ends a pending next(). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.signal.removeEventListener("abort", this.onAbort);
    this.wake.emit("ready");
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
