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
import type { SpanSink } from "../lib/span-sink.js";
import { percentile, round, summarize, type Summary } from "../lib/stats.js";

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
  /** tracingRates are the rates run with tracing off and on (one light, one past saturation), tracingReps times. */
  readonly tracingRates: readonly number[];
  readonly tracingReps: number;
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
  const driver = await P3Driver.open(mesh, settings, log);
  const steps: P3Step[] = [];
  try {
    for (const rate of settings.rates) steps.push(await driver.step(rate));
  } finally {
    driver.close();
  }
  return { steps, peakRssBytes: driver.peakRssBytes };
}

/**
 * P3Driver offers orders at one rate per step and follows each to CONFIRMED (the file comment says how); one driver
 * serves the ramp and the tracing comparison, with the same products, token and client agent.
 */
export class P3Driver {
  readonly peakRssBytes: Record<string, number> = {};
  private seq = 0;
  private readonly sampler: NodeJS.Timeout;

  private constructor(
    private readonly mesh: BenchMesh,
    private readonly settings: P3Settings,
    private readonly log: (line: string) => void,
    private readonly products: readonly string[],
    private readonly token: string,
    // Open loop: the client must not queue. A socket cap near order's admission limit (CREATE_MAX_IN_FLIGHT) kept
    // the mesh from ever seeing more creates than it admits, so nothing was shed and the queue (counted in create
    // latency) was the client's. The cap only bounds the driver against a mesh that stops answering.
    private readonly agent = new http.Agent({ keepAlive: true, maxSockets: MAX_CLIENT_SOCKETS }),
  ) {
    this.sampler = setInterval(() => {
      for (const [name, rss] of Object.entries(mesh.rss())) this.peakRssBytes[name] = Math.max(this.peakRssBytes[name] ?? 0, rss);
    }, 250);
  }

  static async open(mesh: BenchMesh, settings: P3Settings, log: (line: string) => void): Promise<P3Driver> {
    const products = await Promise.all(Array.from({ length: 10 }, () => mesh.createProduct(1_000_000)));
    // An operator's token (admin scope): one token places orders for the thousand customers the load spreads over.
    const token = await mesh.token({ admin: true });
    return new P3Driver(mesh, settings, log, products, token);
  }

  close(): void {
    clearInterval(this.sampler);
    this.agent.destroy();
  }

  /** step offers `rate` orders/s for stepSec, drains for at most drainSec, and reports the step. */
  async step(rate: number, label = ""): Promise<P3Step> {
    const { settings } = this;
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
        const p: Promise<void> = this.follow(start + sent * interval, outcome, abort.signal).finally(() => pending.delete(p));
        pending.add(p);
        sent++;
      }
      await sleep(Math.max(0, Math.min(5, start + sent * interval - performance.now())));
    }
    const drained = Promise.all(pending).then(() => true);
    const finished = await Promise.race([drained, sleep(settings.drainSec * 1000).then(() => false)]);
    if (!finished) abort.abort();
    await Promise.race([Promise.all(pending), sleep(2_000)]);
    const s = stepOf(rate, start, settings.stepSec, outcomes);
    this.log(
      `P3${label} ${rate}/s: confirmed ${s.confirmed}/${outcomes.length} (${s.confirmedPerSec}/s), create p50 ${s.createP50Ms} ms, ` +
        `create→CONFIRMED p50 ${s.confirmP50Ms} ms p99 ${s.confirmP99Ms} ms` +
        `${s.shed ? `, ${s.shed} shed (429, answered in ${s.shedP50Ms} ms p50)` : ""}${s.failed ? `, ${s.failed} failed: ${s.firstError}` : ""}`,
    );
    // Let the mesh settle (relays, consumer commits) so one step's tail does not land in the next.
    await sleep(1_000);
    return s;
  }

  private createOrder(): Promise<string> {
    const url = new URL(`${this.mesh.gatewayUrl}/api/v1/orders`);
    return new Promise((resolve, reject) => {
      const n = this.seq++;
      const body = JSON.stringify({
        customerId: `cust-bench-${n % 1000}`,
        cardToken: "tok_visa",
        lines: [{ productId: this.products[n % this.products.length], quantity: 1 }],
      });
      const req = http.request(
        {
          agent: this.agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            authorization: `Bearer ${this.token}`,
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
  }

  private async follow(due: number, outcome: Outcome, signal: AbortSignal): Promise<void> {
    const { settings } = this;
    try {
      const orderId = await this.createOrder();
      outcome.createMs = performance.now() - due;
      const watch = this.mesh.order.watchOrder({ orderId }, { signal, timeoutMs: (settings.stepSec + settings.drainSec) * 1000 });
      for await (const change of watch) {
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
  }
}

/** P3TracingRow compares one rate with tracing off and on: every step of each side, their medians and ratios. */
export interface P3TracingRow {
  readonly rate: number;
  readonly off: readonly P3Step[];
  readonly on: readonly P3Step[];
  readonly confirmedPerSec: { readonly off: Summary; readonly on: Summary; readonly ratio: number };
  readonly confirmP50Ms: { readonly off: Summary; readonly on: Summary; readonly ratio: number };
  readonly confirmP99Ms: { readonly off: Summary; readonly on: Summary; readonly ratio: number };
}

/** P3TracingCost is the whole order flow with tracing off against on (every process, exporting to a span sink). */
export interface P3TracingCost {
  readonly rows: readonly P3TracingRow[];
  /** spansExported counts what the traced sides sent to the sink (proof that tracing was on). */
  readonly spansExported: number;
  /** spansWhileOff counts what arrived while tracing was off (0, or the switch did not take). */
  readonly spansWhileOff: number;
}

/**
 * runP3TracingCost runs the order flow at `tracingRates` with tracing off and on, every process restarted for each
 * side (so both start cold and are warmed the same way: one untimed step at the first rate), the sides taking turns
 * across the repeats. Tracing on exports to `sink`, which counts and drops the spans.
 */
export async function runP3TracingCost(
  mesh: BenchMesh,
  settings: P3Settings,
  sink: SpanSink,
  log: (line: string) => void,
): Promise<P3TracingCost> {
  const driver = await P3Driver.open(mesh, settings, log);
  const steps = settings.tracingRates.map(() => ({ off: [] as P3Step[], on: [] as P3Step[] }));
  let spansExported = 0;
  let spansWhileOff = 0;
  let traced = false;
  try {
    for (let rep = 0; rep < settings.tracingReps; rep++) {
      for (const on of rep % 2 === 0 ? [false, true] : [true, false]) {
        log(`P3 tracing ${on ? "on" : "off"}: restarting every process`);
        traced = on;
        await mesh.setTracing(on ? sink.endpoint : undefined);
        await driver.step(settings.tracingRates[0]!, " warm-up");
        const before = sink.spans;
        for (const [i, rate] of settings.tracingRates.entries()) {
          steps[i]![on ? "on" : "off"].push(await driver.step(rate, on ? " traced" : " untraced"));
        }
        if (on) spansExported += sink.spans - before;
        else spansWhileOff += sink.spans - before;
      }
    }
  } finally {
    driver.close();
    if (traced) await mesh.setTracing(undefined);
  }
  if (spansExported === 0) throw new Error("the traced sides exported no span to the sink: tracing was not on");
  const compare = (off: readonly P3Step[], on: readonly P3Step[], pick: (s: P3Step) => number) => {
    const a = summarize(off.map(pick));
    const b = summarize(on.map(pick));
    return { off: a, on: b, ratio: round(b.median / a.median, 3) };
  };
  return {
    rows: settings.tracingRates.map((rate, i) => {
      const { off, on } = steps[i]!;
      return {
        rate,
        off,
        on,
        confirmedPerSec: compare(off, on, (s) => s.confirmedPerSec),
        confirmP50Ms: compare(off, on, (s) => s.confirmP50Ms),
        confirmP99Ms: compare(off, on, (s) => s.confirmP99Ms),
      };
    }),
    spansExported,
    spansWhileOff,
  };
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
