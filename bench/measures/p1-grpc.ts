/**
 * P1: OrderService.GetOrder at full speed (ghz, closed loop) against the same ghz load on a bare grpc-js echo server
 * (bench/echo) whose response is exactly as many bytes as the GetOrder response, with the same connections and
 * concurrency, the server under test pinned to its own CPU and ghz to the other. Runs alternate echo / GetOrder so
 * drift on a noisy machine hits both alike.
 *
 * GetOrder runs both over mTLS (as deployed, ghz holding the operator's certificate) and over plaintext, to report
 * what TLS costs. The plaintext side is the same order process restarted with MESH_INSECURE=1 on the same port,
 * database and CPU, not a second mesh: a second mesh would share the run's Kafka topics (its seed order's events
 * would reach the first mesh's consumers, and theirs its own) and both order services would compete for the one
 * server CPU. A restart costs a cold JIT, so every switch is followed by a warm-up run, and the two sides alternate
 * in A-B-B-A order (mTLS, plaintext | plaintext, mTLS …) so a drift over the run hits both alike with one restart per
 * repetition. The mesh is left serving mTLS at the end.
 */
import { toBinary } from "@bufbuild/protobuf";
import path from "node:path";
import { GetOrderResponseSchema, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { MeshChild, ROOT } from "../../scripts/mesh/child.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { runGhz, type LoadResult } from "../lib/ghz.js";
import type { BenchMesh } from "../lib/mesh.js";
import type { SpanSink } from "../lib/span-sink.js";
import { round, summarize, type Summary } from "../lib/stats.js";

/** LoadShape is the load both sides of a comparison get. */
export interface LoadShape {
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly reps: number;
  readonly connections: number;
  readonly concurrency: number;
  /** loadCpus is where the load generator runs; sutCpus where the servers under test run. */
  readonly loadCpus: string | undefined;
  readonly sutCpus: string | undefined;
}

/** SeededOrder is a confirmed order to read, its customer, and the size of its GetOrder response. */
export interface SeededOrder {
  readonly orderId: string;
  readonly customerId: string;
  readonly responseBytes: number;
}

/** seedOrder creates one confirmed two-unit order through the mesh (so GetOrder returns a realistic, full order). */
export async function seedOrder(mesh: BenchMesh): Promise<SeededOrder> {
  const productId = await mesh.createProduct(1_000);
  const customerId = "cust-bench-p1";
  const created = await mesh.order.createOrder(
    { customerId, cardToken: "tok_visa", lines: [{ productId, quantity: 2 }] },
    { metadata: { "idempotency-key": crypto.randomUUID() } },
  );
  const orderId = created.order?.orderId;
  if (!orderId) throw new Error("CreateOrder answered without an order");
  let status: OrderStatus | undefined;
  const response = await waitUntil(
    async () => {
      const answer = await mesh.order.getOrder({ orderId });
      status = answer.order?.status;
      return status === OrderStatus.CONFIRMED && answer;
    },
    { timeoutMs: 30_000, intervalMs: 100, message: `order ${orderId} to be CONFIRMED`, describe: () => `status ${status}` },
  );
  return { orderId, customerId, responseBytes: toBinary(GetOrderResponseSchema, response).length };
}

/** Side is the summary of one target over the repeats. */
export interface Side {
  readonly rps: Summary;
  readonly p50Ms: Summary;
  readonly p99Ms: Summary;
  readonly errors: number;
}

/** sideOf reduces repeated load results to medians and spread. */
export function sideOf(results: readonly LoadResult[]): Side {
  return {
    rps: summarize(results.map((r) => r.rps)),
    p50Ms: summarize(results.map((r) => r.p50Ms)),
    p99Ms: summarize(results.map((r) => r.p99Ms)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  };
}

/** TlsCost are mTLS / plaintext ratios of the medians: below 1 for QPS, above 1 for latencies, when TLS costs. */
export interface TlsCost {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** TracingCost are traced / untraced ratios of the medians, and the spans the traced side exported. */
export interface TracingCost extends TlsCost {
  readonly spansExported: number;
}

export interface P1Result {
  /** getOrder is GetOrder as deployed: over mTLS (plaintext only when the whole mesh runs insecure), tracing off. */
  readonly getOrder: Side;
  /** plaintext is GetOrder on the same order process restarted with MESH_INSECURE=1; absent for an insecure mesh. */
  readonly plaintext?: Side;
  readonly tlsCost?: TlsCost;
  /** traced is GetOrder as deployed with TRACING=zipkin, exporting to a span sink; absent without one. */
  readonly traced?: Side;
  readonly tracingCost?: TracingCost;
  readonly echo: Side;
  readonly responseBytes: number;
}

/** Variant is how the order process serves a side of P1: as deployed, in plaintext, or as deployed and traced. */
type Variant = "deployed" | "plaintext" | "traced";

/**
 * runP1 measures GetOrder over mTLS and plaintext, and traced when `sink` is given, against the echo baseline; see
 * the file comment. The sides take turns in a rotating order, so drift over the run falls on all of them alike.
 */
export async function runP1(
  mesh: BenchMesh,
  order: SeededOrder,
  shape: LoadShape,
  log: (line: string) => void,
  sink?: SpanSink,
): Promise<P1Result> {
  const echoPort = await freePort();
  const echo = MeshChild.node("bench/echo/echo-server.ts", {
    name: "echo",
    cpus: shape.sutCpus,
    env: { PORT: String(echoPort), ECHO_RESPONSE_BYTES: String(order.responseBytes) },
  });
  const compare = mesh.ghzTls("order") !== undefined;
  const variants: Variant[] = ["deployed", ...(compare ? (["plaintext"] as const) : []), ...(sink ? (["traced"] as const) : [])];
  let serving: Variant = "deployed";
  const serve = async (variant: Variant) => {
    if (variant === serving) return;
    log(
      `P1: restarting order ${variant === "plaintext" ? "in plaintext (MESH_INSECURE=1)" : variant === "traced" ? "traced (TRACING=zipkin, to the span sink)" : "as deployed"}`,
    );
    await mesh.restartOrder({
      insecure: variant === "plaintext" || !compare,
      tracing: variant === "traced" ? sink?.endpoint : undefined,
      cpus: shape.sutCpus,
    });
    serving = variant;
    await getOrder(shape.warmupSec);
  };
  const common = { concurrency: shape.concurrency, connections: shape.connections, cpus: shape.loadCpus };
  const getOrder = (durationSec: number) =>
    runGhz({
      ...common,
      durationSec,
      target: mesh.address("order"),
      call: "shop.order.v1.OrderService.GetOrder",
      data: { order_id: order.orderId },
      tls: serving === "plaintext" ? undefined : mesh.ghzTls("order"),
    });
  try {
    await waitForLine(echo, "echo listening");
    const bare = (durationSec: number) =>
      runGhz({
        ...common,
        durationSec,
        target: `127.0.0.1:${echoPort}`,
        call: "bench.echo.v1.EchoService.Echo",
        proto: path.join(ROOT, "bench", "echo", "echo.proto"),
        data: { id: order.orderId },
      });
    await bare(shape.warmupSec);
    await getOrder(shape.warmupSec);
    const echoRuns: LoadResult[] = [];
    const runs: Record<Variant, LoadResult[]> = { deployed: [], plaintext: [], traced: [] };
    let spansExported = 0;
    for (let rep = 0; rep < shape.reps; rep++) {
      echoRuns.push(await bare(shape.durationSec));
      // Start each rep with the side the last one ended on (one restart fewer), then the others in turn.
      const turn = [serving, ...variants.filter((v) => v !== serving)];
      for (const variant of turn) {
        await serve(variant);
        const before = sink?.spans ?? 0;
        runs[variant].push(await getOrder(shape.durationSec));
        if (variant === "traced") spansExported += (sink?.spans ?? 0) - before;
      }
      log(
        `P1 rep ${rep + 1}: GetOrder ${variants.map((v) => `${v} ${runs[v].at(-1)!.rps.toFixed(0)}`).join(", ")} QPS, echo ${echoRuns.at(-1)!.rps.toFixed(0)} QPS`,
      );
    }
    const ratio = (a: Summary, b: Summary) => round(a.median / b.median, 3);
    const costOf = (side: Side, base: Side): TlsCost => ({
      rps: ratio(side.rps, base.rps),
      p50Ms: ratio(side.p50Ms, base.p50Ms),
      p99Ms: ratio(side.p99Ms, base.p99Ms),
    });
    const getOrderSide = sideOf(runs.deployed);
    const plaintext = compare ? sideOf(runs.plaintext) : undefined;
    const traced = sink ? sideOf(runs.traced) : undefined;
    if (traced && spansExported === 0) throw new Error("the traced side exported no span to the sink: tracing was not on");
    return {
      getOrder: getOrderSide,
      ...(plaintext ? { plaintext, tlsCost: costOf(getOrderSide, plaintext) } : {}),
      ...(traced ? { traced, tracingCost: { ...costOf(traced, getOrderSide), spansExported } } : {}),
      echo: sideOf(echoRuns),
      responseBytes: order.responseBytes,
    };
  } finally {
    await echo.stop();
    if (serving !== "deployed")
      await serve("deployed").catch((error: unknown) => log(`P1: order did not come back as deployed: ${String(error)}`));
  }
}

async function waitForLine(child: MeshChild, text: string, timeoutMs = 30_000): Promise<void> {
  await waitUntil(() => child.tail().includes(text), {
    timeoutMs,
    intervalMs: 100,
    signal: child.exitSignal,
    message: `${child.name} to say "${text}"`,
  });
}
