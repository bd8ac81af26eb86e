/**
 * P3 (and P6): the whole order flow under an open-loop load. At each offered rate, orders are created through the
 * gateway's REST API (POST /api/v1/orders, a bearer token, an Idempotency-Key) on schedule, whether or not earlier
 * ones have answered; each created order is then followed with OrderService.WatchOrder (gRPC, straight to the order
 * service) until it is CONFIRMED. Latencies count from the order's scheduled time. After each step the flow gets a
 * bounded drain; confirmed orders/s is confirmed orders over the time from the step's start to its last
 * confirmation, so a step the mesh cannot keep up with reports what it really confirmed. Meanwhile every process's
 * RSS is sampled (P6). Nothing is pinned here: the mesh, the broker and this driver share both CPUs.
 */
import { setMaxListeners } from "node:events";
import http from "node:http";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { sleep } from "../../scripts/mesh/wait.js";
import type { BenchMesh } from "../lib/mesh.js";
import { percentile, round } from "../lib/stats.js";

/** MAX_CLIENT_SOCKETS bounds the driver's concurrent creates (1,000/s × 2 s of answers). */
const MAX_CLIENT_SOCKETS = 2048;

/** ShedError is a create the mesh refused with 429 (load shed), as opposed to one that failed. */
class ShedError extends Error {}

export interface P3Settings {
  readonly rates: readonly number[];
  readonly stepSec: number;
  readonly drainSec: number;
  /** halfRate is the rate whose p99 the second goal judges (half of the 1,000 orders/s goal). */
  readonly halfRate: number;
}

/** P3Step is one offered rate's outcome. */
export interface P3Step {
  readonly offeredRate: number;
  readonly created: number;
  readonly confirmed: number;
  readonly failed: number;
  /** shed creates were answered 429 RESOURCE_EXHAUSTED (order's admission limit): refused at once, not failed. */
  readonly shed: number;
  /** shedP50Ms is how long a shed create took to be answered (from its scheduled time). */
  readonly shedP50Ms: number;
  readonly unfinished: number;
  readonly createPerSec: number;
  readonly confirmedPerSec: number;
  readonly createP50Ms: number;
  readonly createP99Ms: number;
  readonly confirmP50Ms: number;
  readonly confirmP99Ms: number;
  readonly confirmMaxMs: number;
  readonly firstError?: string;
}

export interface P3Result {
  readonly steps: readonly P3Step[];
  /** peakRssBytes per process over all steps (P6). */
  readonly peakRssBytes: Record<string, number>;
}

interface Outcome {
  createMs?: number;
  shedMs?: number;
  confirmMs?: number;
  confirmedAt?: number;
  error?: string;
}

/** runP3 drives every step in turn; see the file comment. */
export async function runP3(mesh: BenchMesh, settings: P3Settings, log: (line: string) => void): Promise<P3Result> {
  const products = await Promise.all(Array.from({ length: 10 }, () => mesh.createProduct(1_000_000)));
  // An operator's token (admin scope): one token places orders for the thousand customers the load spreads over.
  const token = await mesh.token({ admin: true });
  // Open loop: the client must not queue. A socket cap near order's admission limit (CREATE_MAX_IN_FLIGHT) kept
  // the mesh from ever seeing more creates than it admits, so nothing was shed and the queue (counted in create
  // latency) was the client's. The cap only bounds the driver against a mesh that stops answering.
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_CLIENT_SOCKETS });
  const url = new URL(`${mesh.gatewayUrl}/api/v1/orders`);
  const peakRssBytes: Record<string, number> = {};
  const sampler = setInterval(() => {
    for (const [name, rss] of Object.entries(mesh.rss())) peakRssBytes[name] = Math.max(peakRssBytes[name] ?? 0, rss);
  }, 250);
  let seq = 0;

  const createOrder = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const n = seq++;
      const body = JSON.stringify({
        customerId: `cust-bench-${n % 1000}`,
        cardToken: "tok_visa",
        lines: [{ productId: products[n % products.length], quantity: 1 }],
      });
      const req = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            authorization: `Bearer ${token}`,
            "idempotency-key": crypto.randomUUID(),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => {
            if (res.statusCode === 429) return reject(new ShedError(`POST /api/v1/orders: 429 ${text.slice(0, 200)}`));
            if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300)
              return reject(new Error(`POST /api/v1/orders: ${res.statusCode} ${text.slice(0, 200)}`));
            const orderId = (JSON.parse(text) as { order?: { orderId?: string } }).order?.orderId;
            if (orderId) resolve(orderId);
            else reject(new Error(`POST /api/v1/orders answered without an order id: ${text.slice(0, 200)}`));
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  const follow = async (due: number, outcome: Outcome, signal: AbortSignal): Promise<void> => {
    try {
      const orderId = await createOrder();
      outcome.createMs = performance.now() - due;
      for await (const change of mesh.order.watchOrder({ orderId }, { signal, timeoutMs: (settings.stepSec + settings.drainSec) * 1000 })) {
        const status = change.order?.status;
        if (status === OrderStatus.CONFIRMED) {
          outcome.confirmedAt = performance.now();
          outcome.confirmMs = outcome.confirmedAt - due;
          return;
        }
        if (status === OrderStatus.CANCELLED) throw new Error(`order ${orderId} was cancelled: ${change.order?.cancelReason}`);
      }
    } catch (error) {
      if (error instanceof ShedError) outcome.shedMs = performance.now() - due;
      else if (!signal.aborted) outcome.error = error instanceof Error ? error.message : String(error);
    }
  };

  const steps: P3Step[] = [];
  try {
    for (const rate of settings.rates) {
      const outcomes: Outcome[] = [];
      const pending = new Set<Promise<void>>();
      const abort = new AbortController();
      // Every WatchOrder of the step listens on this one signal (each removes its listener when it ends).
      setMaxListeners(0, abort.signal);
      const interval = 1000 / rate;
      const start = performance.now();
      const end = start + settings.stepSec * 1000;
      let sent = 0;
      while (performance.now() < end) {
        while (start + sent * interval <= performance.now() && start + sent * interval < end) {
          const outcome: Outcome = {};
          outcomes.push(outcome);
          const p: Promise<void> = follow(start + sent * interval, outcome, abort.signal).finally(() => pending.delete(p));
          pending.add(p);
          sent++;
        }
        await sleep(Math.max(0, Math.min(5, start + sent * interval - performance.now())));
      }
      const drained = Promise.all(pending).then(() => true);
      const finished = await Promise.race([drained, sleep(settings.drainSec * 1000).then(() => false)]);
      if (!finished) abort.abort();
      await Promise.race([Promise.all(pending), sleep(2_000)]);
      steps.push(stepOf(rate, start, settings.stepSec, outcomes));
      const s = steps.at(-1)!;
      log(
        `P3 ${rate}/s: confirmed ${s.confirmed}/${outcomes.length} (${s.confirmedPerSec}/s), create p50 ${s.createP50Ms} ms, ` +
          `create→CONFIRMED p50 ${s.confirmP50Ms} ms p99 ${s.confirmP99Ms} ms` +
          `${s.shed ? `, ${s.shed} shed (429, answered in ${s.shedP50Ms} ms p50)` : ""}${s.failed ? `, ${s.failed} failed: ${s.firstError}` : ""}`,
      );
      // Let the mesh settle (relays, consumer commits) so one step's tail does not land in the next.
      await sleep(1_000);
    }
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }
  return { steps, peakRssBytes };
}

function stepOf(rate: number, start: number, stepSec: number, outcomes: readonly Outcome[]): P3Step {
  const created = outcomes.filter((o) => o.createMs !== undefined);
  const confirmed = outcomes.filter((o) => o.confirmMs !== undefined);
  const failed = outcomes.filter((o) => o.error !== undefined);
  const shed = outcomes.filter((o) => o.shedMs !== undefined);
  const lastConfirm = confirmed.reduce((latest, o) => Math.max(latest, o.confirmedAt!), start + 1);
  const createMs = created.map((o) => o.createMs!);
  const confirmMs = confirmed.map((o) => o.confirmMs!);
  return {
    offeredRate: rate,
    created: created.length,
    confirmed: confirmed.length,
    failed: failed.length,
    shed: shed.length,
    shedP50Ms: round(
      percentile(
        shed.map((o) => o.shedMs!),
        50,
      ),
      1,
    ),
    unfinished: outcomes.length - confirmed.length - failed.length - shed.length,
    createPerSec: round(created.length / stepSec, 1),
    confirmedPerSec: round(confirmed.length / ((lastConfirm - start) / 1000), 1),
    createP50Ms: round(percentile(createMs, 50), 1),
    createP99Ms: round(percentile(createMs, 99), 1),
    confirmP50Ms: round(percentile(confirmMs, 50), 1),
    confirmP99Ms: round(percentile(confirmMs, 99), 1),
    confirmMaxMs: round(confirmMs.length ? confirmMs.reduce((a, b) => Math.max(a, b)) : Number.NaN, 1),
    ...(failed[0]?.error ? { firstError: failed[0].error.slice(0, 300) } : {}),
  };
}
