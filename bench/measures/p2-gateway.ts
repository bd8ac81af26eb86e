/**
 * P2: the gateway's cost over direct gRPC, for one order read. Targets: direct gRPC GetOrder to the order service
 * (the baseline, ghz), REST GET /api/v1/orders/{id}, Connect unary POST with JSON and with binary protobuf (all
 * three through bench/load/http-load.ts), and gRPC through the gateway (ghz again, so that row has the same client
 * as the baseline). Two runs per target and repeat: closed loop for max RPS, and a fixed low rate for latency
 * (added p50/p99 are taken there, not at saturation, where queueing dominates). The gateway and the order service
 * share the server CPU; the direct baseline has the order service alone on it: same CPU budget for both.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { GetOrderRequestSchema } from "#gen/shop/order/v1/order_service_pb.js";
import { runGhz, type LoadResult } from "../lib/ghz.js";
import { runHttpLoad } from "../lib/http-load.js";
import type { BenchMesh } from "../lib/mesh.js";
import { sideOf, type LoadShape, type SeededOrder, type Side } from "./p1-grpc.js";

export type P2Target = "direct" | "rest" | "connectJson" | "connectBinary" | "grpcViaGateway";
const ALL_TARGETS: readonly P2Target[] = ["direct", "rest", "connectJson", "connectBinary", "grpcViaGateway"];
/** P2_TARGETS: all, or BENCH_P2_TARGETS=rest,direct to profile some of them alone. */
const P2_TARGETS: readonly P2Target[] = process.env["BENCH_P2_TARGETS"]
  ? ALL_TARGETS.filter((t) => process.env["BENCH_P2_TARGETS"]!.split(",").includes(t))
  : ALL_TARGETS;
export const P2_LABELS: Record<P2Target, string> = {
  direct: "direct gRPC GetOrder (baseline)",
  rest: "REST GET /api/v1/orders/{id}",
  connectJson: "Connect unary, JSON",
  connectBinary: "Connect unary, binary proto",
  grpcViaGateway: "gRPC through the gateway",
};

export interface P2Settings extends LoadShape {
  /** latencyRate is the offered rate (req/s) of the latency runs; latencyConnections their connections. */
  readonly latencyRate: number;
  readonly latencyConnections: number;
}

export interface P2Row {
  readonly target: P2Target;
  readonly max: Side;
  readonly atRate: Side;
  /** error says why this target could not be measured (the others still are). */
  readonly error?: string;
}

/** runP2 measures every target; see the file comment. */
export async function runP2(mesh: BenchMesh, order: SeededOrder, s: P2Settings, log: (line: string) => void): Promise<P2Row[]> {
  const connect = `${mesh.gatewayUrl}/shop.order.v1.OrderService/GetOrder`;
  // The order's own customer reads it, as a shopper would: the gateway verifies the token, the order service checks
  // that the order is theirs.
  const authorization = `Bearer ${await mesh.token({ subject: order.customerId })}`;
  const binaryBody = Buffer.from(toBinary(GetOrderRequestSchema, create(GetOrderRequestSchema, { orderId: order.orderId }))).toString(
    "base64",
  );
  const jsonBody = Buffer.from(JSON.stringify({ orderId: order.orderId })).toString("base64");
  const ghzTo = (target: string, durationSec: number, rate: number, metadata?: Record<string, string>) =>
    runGhz({
      target,
      call: "shop.order.v1.OrderService.GetOrder",
      data: { order_id: order.orderId },
      ...(metadata ? { metadata } : {}),
      durationSec,
      concurrency: rate > 0 ? s.latencyConnections : s.concurrency,
      connections: s.connections,
      rps: rate,
      cpus: s.loadCpus,
      // The order service requires mTLS (ghz holds the operator's certificate); the gateway is the plaintext edge.
      tls: target === mesh.address("order") ? mesh.ghzTls("order") : undefined,
    });
  const http =
    (url: string, method: "GET" | "POST", headers: Record<string, string>, bodyBase64: string | undefined) =>
    (durationSec: number, rate: number) =>
      runHttpLoad(
        {
          url,
          method,
          headers,
          ...(bodyBase64 ? { bodyBase64 } : {}),
          connections: rate > 0 ? s.latencyConnections : s.concurrency,
          durationSec,
          rate,
        },
        s.loadCpus,
      );
  const runners: Record<P2Target, (durationSec: number, rate: number) => Promise<LoadResult>> = {
    direct: (d, r) => ghzTo(mesh.address("order"), d, r),
    rest: http(`${mesh.gatewayUrl}/api/v1/orders/${order.orderId}`, "GET", { authorization }, undefined),
    connectJson: http(connect, "POST", { "content-type": "application/json", "connect-protocol-version": "1", authorization }, jsonBody),
    connectBinary: http(
      connect,
      "POST",
      { "content-type": "application/proto", "connect-protocol-version": "1", authorization },
      binaryBody,
    ),
    grpcViaGateway: (d, r) => ghzTo(mesh.address("gateway"), d, r, { authorization }),
  };
  const max = new Map<P2Target, LoadResult[]>(P2_TARGETS.map((t) => [t, []]));
  const atRate = new Map<P2Target, LoadResult[]>(P2_TARGETS.map((t) => [t, []]));
  const errors = new Map<P2Target, string>();
  const attempt = async (target: P2Target, into: Map<P2Target, LoadResult[]>, durationSec: number, rate: number) => {
    if (errors.has(target)) return;
    try {
      const result = await runners[target](durationSec, rate);
      if (result.count > 0 && result.errors / result.count > 0.01) throw new Error(`${result.errors} of ${result.count} requests failed`);
      into.get(target)!.push(result);
    } catch (error) {
      errors.set(target, error instanceof Error ? error.message.split("\n")[0]! : String(error));
      log(`P2 ${target} failed: ${errors.get(target)}`);
    }
  };
  for (const target of P2_TARGETS) await attempt(target, new Map(P2_TARGETS.map((t) => [t, []])), s.warmupSec, 0);
  for (let rep = 0; rep < s.reps; rep++) {
    for (const target of P2_TARGETS) await attempt(target, max, s.durationSec, 0);
    for (const target of P2_TARGETS) await attempt(target, atRate, s.durationSec, s.latencyRate);
    log(
      `P2 rep ${rep + 1}: ` +
        P2_TARGETS.map(
          (t) => `${t} ${max.get(t)!.at(-1)?.rps.toFixed(0) ?? "-"} rps / p50 ${atRate.get(t)!.at(-1)?.p50Ms.toFixed(2) ?? "-"} ms`,
        ).join(", "),
    );
  }
  return P2_TARGETS.map((target) => ({
    target,
    max: sideOf(max.get(target)!),
    atRate: sideOf(atRate.get(target)!),
    ...(errors.has(target) ? { error: errors.get(target)! } : {}),
  }));
}
