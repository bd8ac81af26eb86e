import { EventEmitter } from "node:events";

/**
 * OrderChanges tells in-process watchers (WatchOrder) that an order changed. It is fired only after the change is
 * committed, so a watcher that re-reads the order always sees it.
 */
export class OrderChanges {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Each watcher is one listener on its order's name; many watchers are normal, not a leak.
    this.emitter.setMaxListeners(0);
  }

  /** changed announces a committed change of an order. */
  changed(orderId: string): void {
    this.emitter.emit(orderId);
  }

  /**
   * subscribe starts listening to one order before its state is read, so no change can fall between the read and the
   * first wait. `next()` resolves at the next change (or at once if one happened since the last call) and rejects
   * with the signal's reason when it aborts; `close()` stops listening.
   */
  subscribe(orderId: string, signal: AbortSignal): { next(): Promise<void>; close(): void } {
    let missed = false;
    let wake: (() => void) | undefined;
    const onChange = () => {
      missed = true;
      wake?.();
    };
    this.emitter.on(orderId, onChange);
    return {
      next: () =>
        new Promise<void>((resolve, reject) => {
          if (signal.aborted) return reject(signal.reason);
          if (missed) {
            missed = false;
            return resolve();
          }
          const onAbort = () => reject(signal.reason);
          signal.addEventListener("abort", onAbort, { once: true });
          wake = () => {
            wake = undefined;
            missed = false;
            signal.removeEventListener("abort", onAbort);
            resolve();
          };
        }),
      close: () => this.emitter.off(orderId, onChange),
    };
  }
}
