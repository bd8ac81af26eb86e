import { createServer } from "node:net";

/** WaitOptions bound a wait: how long in total, how often to look, and what to say when it runs out. */
export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** message describes what was awaited; `describe` adds what was last seen. */
  readonly message?: string;
}

/**
 * waitUntil polls `probe` until it returns something other than `undefined`/`false` and returns that value. It
 * fails after `timeoutMs` with the message, the last value probed and the last error thrown, so a failed wait says
 * what it saw rather than only "timed out". A probe's throw counts as "not yet".
 */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions & { describe?: () => string } = {},
): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 200, message = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const seen = options.describe ? `; last seen: ${options.describe()}` : "";
      const err = lastError === undefined ? "" : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${seen}${err}`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** sleep resolves after `ms`; used between polls only, never as an assertion. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** freePort asks the OS for a free TCP port (listen on 0, read it, close). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
