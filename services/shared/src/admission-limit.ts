import { resourceExhausted } from "./errors.js";

/**
 * AdmissionLimit bounds how many calls of one kind run at once. A call beyond the limit is refused at once with
 * RESOURCE_EXHAUSTED and a retry-after hint, rather than queueing behind the others: above saturation a queue only
 * grows, every caller waits seconds and then times out anyway, while an early refusal lets the caller back off and
 * keeps the admitted calls fast.
 */
export class AdmissionLimit {
  private running = 0;

  /**
   * @param max calls allowed at once.
   * @param what names the work in the refusal, e.g. "CreateOrder".
   * @param retryAfterSec is the hint sent with the refusal (the `retry-after` trailer; HTTP Retry-After at the gateway).
   */
  constructor(
    readonly max: number,
    private readonly what: string,
    private readonly retryAfterSec = 1,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`AdmissionLimit: max must be a positive integer, got ${max}`);
  }

  /** inFlight is how many admitted calls are running now. */
  get inFlight(): number {
    return this.running;
  }

  /** run admits `work` and holds its slot until it settles, or throws RESOURCE_EXHAUSTED without starting it. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) {
      throw resourceExhausted(`${this.what}: ${this.max} already in progress, retry later`, this.retryAfterSec);
    }
    this.running += 1;
    try {
      return await work();
    } finally {
      this.running -= 1;
    }
  }
}
