/**
 * P1: OrderService.GetOrder at full speed (ghz, closed loop) against the same ghz load on a bare grpc-js echo server
 * (bench/echo) whose response is exactly as many bytes as the GetOrder response, with the same connections and
 * concurrency, the server under test pinned to its own CPU and ghz to the other. Runs alternate echo / GetOrder so
 * drift on a noisy machine hits both alike.
 */
import { toBinary } from "@bufbuild/protobuf";
import path from "node:path";
import { GetOrderResponseSchema, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { MeshChild, ROOT } from "../../scripts/mesh/child.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { runGhz, type LoadResult } from "../lib/ghz.js";
import type { BenchMesh } from "../lib/mesh.js";
import { summarize, type Summary } from "../lib/stats.js";

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

export interface P1Result {
  readonly getOrder: Side;
  readonly echo: Side;
  readonly responseBytes: number;
}

/** runP1 measures GetOrder and the echo baseline; see the file comment. */
export async function runP1(mesh: BenchMesh, order: SeededOrder, shape: LoadShape, log: (line: string) => void): Promise<P1Result> {
  const echoPort = await freePort();
  const echo = MeshChild.node("bench/echo/echo-server.ts", {
    name: "echo",
    cpus: shape.sutCpus,
    env: { PORT: String(echoPort), ECHO_RESPONSE_BYTES: String(order.responseBytes) },
  });
  try {
    await waitForLine(echo, "echo listening");
    const common = { concurrency: shape.concurrency, connections: shape.connections, cpus: shape.loadCpus };
    const getOrder = (durationSec: number) =>
      runGhz({
        ...common,
        durationSec,
        target: mesh.address("order"),
        call: "shop.order.v1.OrderService.GetOrder",
        data: { order_id: order.orderId },
      });
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
    const getRuns: LoadResult[] = [];
    for (let rep = 0; rep < shape.reps; rep++) {
      echoRuns.push(await bare(shape.durationSec));
      getRuns.push(await getOrder(shape.durationSec));
      log(`P1 rep ${rep + 1}: GetOrder ${getRuns.at(-1)!.rps.toFixed(0)} QPS, echo ${echoRuns.at(-1)!.rps.toFixed(0)} QPS`);
    }
    return { getOrder: sideOf(getRuns), echo: sideOf(echoRuns), responseBytes: order.responseBytes };
  } finally {
    await echo.stop();
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
