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

export interface P1Result {
  /** getOrder is GetOrder as deployed: over mTLS (plaintext only when the whole mesh runs insecure). */
  readonly getOrder: Side;
  /** plaintext is GetOrder on the same order process restarted with MESH_INSECURE=1; absent for an insecure mesh. */
  readonly plaintext?: Side;
  readonly tlsCost?: TlsCost;
  readonly echo: Side;
  readonly responseBytes: number;
}

/** runP1 measures GetOrder over mTLS and plaintext, and the echo baseline; see the file comment. */
export async function runP1(mesh: BenchMesh, order: SeededOrder, shape: LoadShape, log: (line: string) => void): Promise<P1Result> {
  const echoPort = await freePort();
  const echo = MeshChild.node("bench/echo/echo-server.ts", {
    name: "echo",
    cpus: shape.sutCpus,
    env: { PORT: String(echoPort), ECHO_RESPONSE_BYTES: String(order.responseBytes) },
  });
  const compare = mesh.ghzTls("order") !== undefined;
  let plaintextNow = false;
  const serve = async (plaintext: boolean) => {
    if (plaintext === plaintextNow) return;
    log(`P1: restarting order ${plaintext ? "in plaintext (MESH_INSECURE=1)" : "with mTLS"}`);
    await mesh.restartOrder({ insecure: plaintext, cpus: shape.sutCpus });
    plaintextNow = plaintext;
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
      tls: mesh.ghzTls("order"),
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
    const tlsRuns: LoadResult[] = [];
    const plainRuns: LoadResult[] = [];
    for (let rep = 0; rep < shape.reps; rep++) {
      echoRuns.push(await bare(shape.durationSec));
      const sides = !compare ? [false] : rep % 2 === 0 ? [false, true] : [true, false];
      for (const plaintext of sides) {
        await serve(plaintext);
        (plaintext ? plainRuns : tlsRuns).push(await getOrder(shape.durationSec));
      }
      const plain = compare ? `, plaintext ${plainRuns.at(-1)!.rps.toFixed(0)} QPS` : "";
      log(
        `P1 rep ${rep + 1}: GetOrder ${tlsRuns.at(-1)!.rps.toFixed(0)} QPS${compare ? " over mTLS" : ""}${plain}, echo ${echoRuns.at(-1)!.rps.toFixed(0)} QPS`,
      );
    }
    const getOrderSide = sideOf(tlsRuns);
    if (!compare) return { getOrder: getOrderSide, echo: sideOf(echoRuns), responseBytes: order.responseBytes };
    const plaintext = sideOf(plainRuns);
    const ratio = (a: Summary, b: Summary) => round(a.median / b.median, 3);
    return {
      getOrder: getOrderSide,
      plaintext,
      tlsCost: {
        rps: ratio(getOrderSide.rps, plaintext.rps),
        p50Ms: ratio(getOrderSide.p50Ms, plaintext.p50Ms),
        p99Ms: ratio(getOrderSide.p99Ms, plaintext.p99Ms),
      },
      echo: sideOf(echoRuns),
      responseBytes: order.responseBytes,
    };
  } finally {
    await echo.stop();
    if (plaintextNow) await serve(false).catch((error: unknown) => log(`P1: order did not come back with mTLS: ${String(error)}`));
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
