/**
 * The benchmark mesh: the three services and optionally the gateway, run by the harness's ProcessMesh
 * (scripts/mesh/mesh.ts) from the compiled bundles production runs, each with its own temp DATA_DIR, free port and
 * unique consumer group, optionally pinned to CPUs and profiled, against the run's broker (scripts/mesh/broker.ts).
 * Stopping it stops only what it started.
 */
import { DEV_JWT_SECRET } from "../../gateway/src/config.js";
import { ADMIN_SCOPE } from "#shared/security/principal.js";
import { ALL_WRITE_SCOPES, signToken } from "../../gateway/src/auth.js";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { acquireBroker as acquireRunBroker, type Broker } from "../../scripts/mesh/broker.js";
import { repin } from "../../scripts/mesh/child.js";
import { ensureBuilt, OPERATOR, ProcessMesh, type MeshProcessName, type ServiceName } from "../../scripts/mesh/mesh.js";
import { operatorFiles } from "#shared/security/pki-layout.js";
import type { GhzTls } from "./ghz.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";

export type { Broker };

/** BENCH_KAFKA_PORT is where `scripts/kafka.sh` runs a broker when KAFKA_BROKERS is not set (the tests' port). */
const BENCH_KAFKA_PORT = process.env["BENCH_KAFKA_PORT"] ?? "19092";

/** acquireBroker uses KAFKA_BROKERS, else reuses or starts the scripts/kafka.sh broker (stopped at release if started). */
export async function acquireBroker(log: (line: string) => void): Promise<Broker> {
  if (!process.env["KAFKA_BROKERS"]?.trim()) log(`using or starting a Kafka broker on 127.0.0.1:${BENCH_KAFKA_PORT} (scripts/kafka.sh)`);
  return acquireRunBroker(BENCH_KAFKA_PORT);
}

/** meshNotes are the results' notes on how the mesh's processes ran (empty when no mesh was started). */
export async function meshNotes(started: boolean): Promise<string[]> {
  if (!started) return [];
  const result = await ensureBuilt().catch(() => undefined);
  if (!result) return [];
  return [
    `The services and the gateway ran compiled JavaScript, as deployed: \`node --enable-source-maps dist/<name>/main.js\`, ` +
      `bundled by scripts/build.ts (esbuild) at the start of the run in ${result.durationMs} ms; the echo server and ` +
      "bench/load/http-load.ts run their TypeScript through tsx.",
  ];
}

/** MeshOptions choose CPUs and profiling per process. */
export interface MeshOptions {
  readonly brokers: string;
  readonly withGateway: boolean;
  /** cpus per process name (inventory, payment, order, gateway); missing names are not pinned. */
  readonly cpus?: Partial<Record<MeshProcessName, string>>;
  /** profileDir, when set, runs every process with --cpu-prof into it. */
  readonly profileDir?: string | undefined;
  /** insecure runs the whole mesh in plaintext (MESH_INSECURE=1), the baseline of what mTLS costs. */
  readonly insecure?: boolean;
  /** logLevel of every process (LOG_LEVEL; default info, as deployed). */
  readonly logLevel?: string;
}

/** BenchMesh is a running set of services (+ gateway); see the file comment. */
export class BenchMesh {
  readonly order: ServiceClient<typeof OrderService>;
  readonly inventory: ServiceClient<typeof InventoryService>;

  private constructor(readonly processes: ProcessMesh) {
    this.order = createClient(OrderService, this.address("order"), {
      defaultTimeoutMs: 10_000,
      credentials: processes.credentials("order"),
    });
    this.inventory = createClient(InventoryService, this.address("inventory"), {
      defaultTimeoutMs: 10_000,
      credentials: processes.credentials("inventory"),
    });
  }

  /** start launches inventory, then payment and order, then the gateway, each waited for. */
  static async start(options: MeshOptions): Promise<BenchMesh> {
    const processes = await ProcessMesh.start({
      brokers: options.brokers,
      run: "compiled",
      gateway: options.withGateway,
      insecure: options.insecure ?? false,
      groupPrefix: `bench-${crypto.randomUUID().slice(0, 8)}`,
      env: { LOG_FORMAT: "json", LOG_LEVEL: options.logLevel ?? "info" },
      processEnv: { gateway: { JWT_SECRET: DEV_JWT_SECRET } },
      ...(options.cpus ? { cpus: options.cpus } : {}),
      ...(options.profileDir ? { cpuProfDir: options.profileDir } : {}),
      readyTimeoutMs: 90_000,
      // Profiles are written on the graceful exit, which may take a while after a long run.
      stopTimeoutMs: 20_000,
    });
    return new BenchMesh(processes);
  }

  address(name: MeshProcessName): string {
    return this.processes.address(name);
  }

  get gatewayUrl(): string {
    return `http://${this.address("gateway")}`;
  }

  /**
   * token mints a JWT the gateway accepts (the dev secret the mesh's gateway was started with): every write scope, for
   * customer `subject` (default "bench"), whose orders alone it reaches unless `admin` adds the admin scope.
   */
  token(options: { subject?: string; admin?: boolean } = {}): Promise<string> {
    return signToken(
      { issuer: "shopmesh-dev", audience: "shopmesh-api", secret: DEV_JWT_SECRET, algorithms: ["HS256"] },
      {
        subject: options.subject ?? "bench",
        scopes: options.admin ? [...ALL_WRITE_SCOPES, ADMIN_SCOPE] : ALL_WRITE_SCOPES,
        ttlSeconds: 3600,
      },
    );
  }

  /** createProduct imports one product with `available` units and returns its id. */
  async createProduct(available: number): Promise<string> {
    const productId = `sku-bench-${crypto.randomUUID().slice(0, 8)}`;
    const summary = await this.inventory.importStock([
      { productId, quantity: available, name: `Bench ${productId}`, price: { currencyCode: "EUR", amountMinor: 1_250n } },
    ]);
    if (summary.createdCount !== 1) throw new Error(`could not create ${productId}: ${JSON.stringify(summary.errors)}`);
    return productId;
  }

  /**
   * ghzTls are the operator's files for ghz to call `service` with mTLS (the operator is an admin in
   * policy/access.yaml, so it reads any order without a JWT); undefined while the service serves plaintext.
   */
  ghzTls(service: ServiceName): GhzTls | undefined {
    const pkiDir = this.processes.pkiDir;
    if (pkiDir === undefined || this.processes.credentials(service) === undefined) return undefined;
    return operatorFiles(pkiDir, OPERATOR.name);
  }

  /**
   * restartOrder restarts the order service on its port and data, serving mTLS or (`insecure`) plaintext, pinned
   * to `cpus` again (the new process does not inherit the old one's affinity). In plaintext it cannot reach
   * inventory (which still requires mTLS); only reads, which need no other service, are meant to run against it.
   */
  async restartOrder(options: { insecure: boolean; tracing?: string | undefined; cpus?: string | undefined }): Promise<void> {
    await this.processes.restart("order", { MESH_INSECURE: options.insecure ? "1" : "0", ...tracingEnv(options.tracing) });
    if (options.cpus) repin(this.processes.process("order").pid, options.cpus);
  }

  /**
   * setTracing restarts every process (on its port and data) with tracing exporting to `endpoint` (a Zipkin v2
   * collector), or off when undefined. Nothing is pinned afterwards: this serves P3, which pins nothing.
   */
  async setTracing(endpoint: string | undefined): Promise<void> {
    for (const name of ["inventory", "payment", "order", "gateway"] as const) {
      if (this.processes.names.includes(name)) await this.processes.restart(name, tracingEnv(endpoint));
    }
  }

  /** rss is each process's resident set size in bytes now. */
  rss(): Record<string, number> {
    return this.processes.rss();
  }

  /** stop sends SIGTERM (profiles are written on this graceful exit): gateway first, then order, payment, inventory. */
  async stop(): Promise<void> {
    this.order.close();
    this.inventory.close();
    await this.processes.stop();
  }
}

function tracingEnv(endpoint: string | undefined): Record<string, string> {
  return endpoint === undefined ? { TRACING: "off" } : { TRACING: "zipkin", ZIPKIN_ENDPOINT: endpoint };
}

/** pinMesh pins each named process of the mesh to its CPUs (see repin); names without CPUs are left alone. */
export function pinMesh(mesh: BenchMesh, cpus: Partial<Record<MeshProcessName, string>>): void {
  for (const [name, list] of Object.entries(cpus) as [MeshProcessName, string | undefined][]) {
    if (list) repin(mesh.processes.process(name).pid, list);
  }
}
