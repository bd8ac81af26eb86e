/**
 * quietKafkajsNegativeTimeouts stops one known-harmless warning from alarming people, and only that one.
 *
 * kafkajs 2.2.4 (in maintenance; tulios/kafkajs#1751, open upstream) schedules its request queue's throttle check
 * with `setTimeout(fn, throttledUntil - Date.now())`; with no throttle in force `throttledUntil` is -1, so the
 * delay is about minus fifty years. Node clamps any negative delay to 1 ms, which is exactly the "check again soon"
 * kafkajs means, but Node 24 also prints a TimeoutNegativeWarning each time (some 18 per test run).
 *
 * `--disable-warning=TimeoutNegativeWarning` would hide the warning for all code, ours included. Instead this drops a
 * TimeoutNegativeWarning only when the timer was set from inside kafkajs; every other warning, and a negative timeout
 * set anywhere else, still prints as usual. Installed once per process by createKafkaClient.
 */
export function quietKafkajsNegativeTimeouts(): void {
  if (installed) return;
  installed = true;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
    const options = rest[0];
    const type = typeof options === "string" ? options : (options as { type?: string } | undefined)?.type;
    if (type === "TimeoutNegativeWarning" && /[\\/]kafkajs[\\/]/.test(new Error().stack ?? "")) return;
    (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
}

let installed = false;
