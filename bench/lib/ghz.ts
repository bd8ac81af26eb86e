/**
 * ghz, the gRPC load generator (installed by `npm run tools` into .tools/bin), run as a child process pinned to the
 * load generator's CPUs, with its JSON report reduced to what the benchmarks compare.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { MeshChild, ROOT } from "../../scripts/mesh/child.js";

/** GHZ is the pinned ghz binary. */
export const GHZ = path.join(ROOT, ".tools", "bin", "ghz");

/** GhzRun describes one ghz run. */
export interface GhzRun {
  readonly target: string;
  /** call is `package.Service.Method`. */
  readonly call: string;
  readonly data: object;
  /** metadata is sent with every call (e.g. the gateway's `authorization`). */
  readonly metadata?: Record<string, string>;
  /** proto is a .proto file; without it ghz asks the server's reflection. */
  readonly proto?: string;
  readonly durationSec: number;
  readonly concurrency: number;
  readonly connections: number;
  /** rps limits the offered rate; 0 (default) is as fast as the server answers. */
  readonly rps?: number;
  readonly cpus?: string | undefined;
  /** tls dials with mutual TLS as the holder of these files; without it ghz speaks plaintext (`--insecure`). */
  readonly tls?: GhzTls | undefined;
}

/** GhzTls are the PEM files ghz presents and trusts (an operator's, see BenchMesh.ghzTls). */
export interface GhzTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * tlsArgs: the servers' leaves carry DNS:localhost and IP:127.0.0.1; `--cname=localhost` makes ghz verify the name
 * whatever address form the target uses (grpc-go would otherwise check the target's host as given).
 */
function tlsArgs(tls: GhzTls | undefined): string[] {
  if (!tls) return ["--insecure"];
  return [`--cacert=${tls.ca}`, `--cert=${tls.cert}`, `--key=${tls.key}`, "--cname=localhost"];
}

/** LoadResult is what one load run measured; latencies in milliseconds. */
export interface LoadResult {
  readonly rps: number;
  readonly count: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

interface GhzReport {
  count: number;
  total: number;
  rps: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  statusCodeDistribution?: Record<string, number>;
  errorDistribution?: Record<string, number> | null;
}

/** runGhz runs ghz and returns its throughput, percentiles and error count. */
export async function runGhz(run: GhzRun): Promise<LoadResult> {
  if (!existsSync(GHZ)) throw new Error(`ghz is not installed at ${GHZ}: run \`npm run tools\``);
  const args = [
    ...tlsArgs(run.tls),
    `--call=${run.call}`,
    `--data=${JSON.stringify(run.data)}`,
    `--concurrency=${run.concurrency}`,
    `--connections=${run.connections}`,
    `--duration=${run.durationSec}s`,
    "--duration-stop=wait",
    `--rps=${run.rps ?? 0}`,
    "--timeout=10s",
    "--format=json",
    ...(run.cpus ? [`--cpus=${run.cpus.split(/[,-]/).length}`] : []),
    ...(run.proto ? [`--proto=${run.proto}`] : []),
    ...(run.metadata ? [`--metadata=${JSON.stringify(run.metadata)}`] : []),
    run.target,
  ];
  const child = MeshChild.command(GHZ, args, { name: "ghz", cpus: run.cpus });
  let stdout = "";
  child.child.stdout?.on("data", (chunk: string) => (stdout += chunk));
  const { code } = await child.waitForExit();
  if (code !== 0) throw new Error(`ghz exited with ${code} on ${run.call} at ${run.target}:\n${child.tail()}`);
  const report = JSON.parse(stdout) as GhzReport;
  const at = (p: number) => (report.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? Number.NaN) / 1e6;
  const ok = report.statusCodeDistribution?.["OK"] ?? 0;
  return { rps: report.rps, count: report.count, errors: report.count - ok, p50Ms: at(50), p99Ms: at(99) };
}
