/**
 * http-load is the benchmarks' HTTP/1.1 load generator, run as its own process (pinned with taskset by the caller).
 * Why not autocannon: it records latencies in whole milliseconds, and P2 judges an added p50 of 0.3 ms.
 *
 * Two modes, both over `connections` keep-alive sockets:
 *   - closed loop (rate 0): every connection sends its next request as soon as the previous answer is read — max RPS;
 *   - open loop (rate R): requests are due at start + i/R; latency counts from the due time, so a stall is not hidden
 *     by the generator waiting for it (coordinated omission).
 * The spec is one JSON argument; the result is one JSON line on stdout: {rps, count, errors, p50Ms, p99Ms}.
 */
import http from "node:http";

/** HttpLoadSpec is the one argument. */
export interface HttpLoadSpec {
  url: string;
  method: "GET" | "POST";
  headers?: Record<string, string>;
  /** bodyBase64 is the request body, base64 so binary bodies (Connect proto) travel in JSON. */
  bodyBase64?: string;
  connections: number;
  durationSec: number;
  /** rate in requests per second; 0 = closed loop. */
  rate: number;
}

const spec = JSON.parse(process.argv[2] ?? "{}") as HttpLoadSpec;
const url = new URL(spec.url);
const body = spec.bodyBase64 ? Buffer.from(spec.bodyBase64, "base64") : undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
const headers = { ...spec.headers, ...(body ? { "content-length": String(body.length) } : {}) };
const latencies: number[] = [];
let errors = 0;

function send(): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: spec.method, headers },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => {
          if ((res.statusCode ?? 0) >= 300) errors++;
          resolve();
        });
        res.on("error", () => {
          errors++;
          resolve();
        });
      },
    );
    req.on("error", () => {
      errors++;
      resolve();
    });
    req.end(body);
  });
}

async function closedLoop(deadline: number): Promise<void> {
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      await send();
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, worker));
}

async function openLoop(start: number, deadline: number): Promise<void> {
  const interval = 1000 / spec.rate;
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  while (performance.now() < deadline) {
    const now = performance.now();
    // Fire everything that is due by now (timers are coarse; a tick may owe several requests).
    while (start + sent * interval <= now) {
      const due = start + sent * interval;
      const p: Promise<void> = send().then(() => {
        latencies.push(performance.now() - due);
        inFlight.delete(p);
      });
      inFlight.add(p);
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(5, start + sent * interval - performance.now()))));
  }
  await Promise.all(inFlight);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

const start = performance.now();
const deadline = start + spec.durationSec * 1000;
if (spec.rate > 0) await openLoop(start, deadline);
else await closedLoop(deadline);
const elapsedSec = (performance.now() - start) / 1000;
agent.destroy();
latencies.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    rps: latencies.length / elapsedSec,
    count: latencies.length,
    errors,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  }),
);
