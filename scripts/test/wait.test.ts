/** scripts/mesh/wait.ts: the one polling wait of the tests, the benchmarks and the scripts. */
import { describe, expect, it } from "vitest";
import { waitUntil } from "../mesh/wait.js";

describe("waitUntil", () => {
  it("when the probe returns 0, an empty string or an empty list, then that counts as done and is returned", async () => {
    await expect(waitUntil(() => 0, { timeoutMs: 100 })).resolves.toBe(0);
    await expect(waitUntil(() => "", { timeoutMs: 100 })).resolves.toBe("");
    await expect(waitUntil(() => [], { timeoutMs: 100 })).resolves.toEqual([]);
  });

  it("when the probe returns undefined or false for a while, then it polls until a value comes", async () => {
    let calls = 0;
    const value = await waitUntil(() => (++calls < 3 ? (calls === 1 ? undefined : false) : { calls }), { intervalMs: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it("when the probe throws, then that counts as not yet, and a timeout names the wait, what was seen and the last error", async () => {
    let calls = 0;
    const thrown = waitUntil(
      () => {
        calls += 1;
        throw new Error(`not ready (${calls})`);
      },
      { timeoutMs: 60, intervalMs: 5, message: "the thing", describe: () => "state X" },
    );
    await expect(thrown).rejects.toThrow(
      /^timed out after 60 ms waiting for the thing; last seen: state X; last error: not ready \(\d+\)$/,
    );
    expect(calls).toBeGreaterThan(1);
  });

  it("when the signal aborts, then the wait stops at once with the signal's reason", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("the process exited")), 20);
    const started = Date.now();
    const stopped = waitUntil(() => false, { timeoutMs: 10_000, intervalMs: 5_000, message: "SERVING", signal: controller.signal });
    await expect(stopped).rejects.toThrow("stopped waiting for SERVING: the process exited");
    // Liveness, not timing: it did not sit out its 5 s interval or 10 s timeout.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
