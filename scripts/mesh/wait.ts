/** WaitOptions bound a wait: how long in total, how often to look, what to say when it runs out, and when to give up. */
export interface WaitOptions {
  /** timeoutMs bounds the whole wait (default 20 s). */
  readonly timeoutMs?: number;
  /** intervalMs is the pause between probes (default 50 ms; poll other processes less often). */
  readonly intervalMs?: number;
  /** message names what is awaited, as in "timed out after 20000 ms waiting for <message>". */
  readonly message?: string;
  /** describe adds what was last seen to the timeout error. */
  readonly describe?: () => string;
  /** signal ends the wait early, naming its reason (e.g. the process being waited on exited). */
  readonly signal?: AbortSignal;
}

/**
 * waitUntil polls `probe` until it returns something other than `undefined` or `false`, and returns that value (so
 * 0, "" and [] count as done: a probe that means "not yet" says so with undefined or false). A probe that throws
 * counts as "not yet" too, and its last error goes into the timeout error, so a failed wait says what it saw rather
 * than only "timed out". It is the one polling wait of the tests, the benchmarks and the scripts.
 */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 50, message = "condition", signal } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  const giveUpIfAborted = () => {
    if (!signal?.aborted) return;
    const reason: unknown = signal.reason;
    throw new Error(`stopped waiting for ${message}: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
  };
  for (;;) {
    giveUpIfAborted();
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    giveUpIfAborted();
    if (Date.now() >= deadline) {
      const seen = options.describe ? `; last seen: ${options.describe()}` : "";
      const err = lastError === undefined ? "" : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${seen}${err}`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())), signal);
  }
}

/** sleep resolves after `ms`, or as soon as `signal` aborts; for pacing only, never as an assertion. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** stateWithin is how a promise stands after `ms`: "pending", "resolved" or "rejected: <message>" (a stream that must stay open). */
export async function stateWithin(promise: Promise<unknown>, ms: number): Promise<string> {
  return await Promise.race([
    promise.then(
      () => "resolved",
      (error: unknown) => `rejected: ${error instanceof Error ? error.message : String(error)}`,
    ),
    sleep(ms).then(() => "pending"),
  ]);
}
