/**
 * The benchmark mesh: a Kafka broker (KAFKA_BROKERS, or `scripts/kafka.sh start` on the tests' port 19092), the three
 * services and optionally the gateway as real processes, each with its own temp DATA_DIR, free port and unique
 * consumer group, optionally pinned to CPUs and profiled. Stopping it stops only what it started.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEV_JWT_SECRET } from "../../gateway/src/config.js";
import { ALL_WRITE_SCOPES, signToken } from "../../gateway/src/auth.js";
import { InventoryService } from "../../gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "../../gen/shop/order/v1/order_service_pb.js";
import { build, bundlePath, stopBuildService, type BuildResult } from "../../scripts/build.js";
import { ensureTopics } from "../../scripts/create-topics.js";
import { checkHealth } from "../../services/shared/src/grpc/health-client.js";
import { parseBrokers } from "../../services/shared/src/events/kafka-client.js";
import { createClient, type ServiceClient } from "../../services/shared/src/grpc/client.js";
import { BenchChild, repin, ROOT, sleep } from "./proc.js";

export type ServiceName = "inventory" | "payment" | "order";
const SERVICES: readonly ServiceName[] = ["inventory", "payment", "order"];

/** Broker is the Kafka the run uses, and how to let go of it. */
export interface Broker {
  readonly brokers: string;
  readonly origin: string;
  release(): Promise<void>;
}

/** BENCH_KAFKA_PORT is where `scripts/kafka.sh` runs a broker when KAFKA_BROKERS is not set (the tests' port). */
const BENCH_KAFKA_PORT = process.env["BENCH_KAFKA_PORT"] ?? "19092";

/** acquireBroker uses KAFKA_BROKERS, else reuses or starts the scripts/kafka.sh broker (stopped at release if started). */
export async function acquireBroker(log: (line: string) => void): Promise<Broker> {
  const configured = process.env["KAFKA_BROKERS"]?.trim();
  let broker: Broker;
  if (configured) broker = { brokers: configured, origin: "KAFKA_BROKERS", release: async () => {} };
  else {
    const wasRunning = (await kafkaScript("status")) === 0;
    if (!wasRunning) log(`starting a Kafka broker on 127.0.0.1:${BENCH_KAFKA_PORT} (scripts/kafka.sh)`);
    if ((await kafkaScript("start")) !== 0) throw new Error("`bash scripts/kafka.sh start` failed; set KAFKA_BROKERS or install Java 17 + Maven");
    broker = {
      brokers: `127.0.0.1:${BENCH_KAFKA_PORT}`,
      origin: wasRunning ? "scripts/kafka.sh broker, already running" : "scripts/kafka.sh broker, started for this run",
      release: async () => {
        if (!wasRunning && process.env["KAFKA_KEEP_RUNNING"] !== "1") await kafkaScript("stop");
      },
    };
  }
  await ensureTopics(parseBrokers(broker.brokers));
  return broker;
}

function kafkaScript(command: "start" | "stop" | "status"): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn("bash", [path.join(ROOT, "scripts", "kafka.sh"), command], {
      cwd: ROOT,
      env: { ...process.env, KAFKA_PORT: BENCH_KAFKA_PORT },
      stdio: ["ignore", "ignore", command === "status" ? "ignore" : "inherit"],
    });
    child.on("error", () => resolve(127));
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

let built: Promise<BuildResult> | undefined;

/**
 * ensureBuilt bundles the services and the gateway into dist/ once per run (scripts/build.ts), so the mesh runs the
 * compiled JavaScript production runs; later meshes of the same run reuse it.
 */
export function ensureBuilt(): Promise<BuildResult> {
  // The esbuild helper process is not needed after this one build; it would only sit beside the measured mesh.
  built ??= build().finally(() => stopBuildService());
  return built;
}

/** meshNotes are the results' notes on how the mesh's processes ran (empty when no mesh was started). */
export async function meshNotes(): Promise<string[]> {
  const result = await built?.catch(() => undefined);
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
  readonly cpus?: Partial<Record<ServiceName | "gateway", string>>;
  /** profileDir, when set, runs every process with --cpu-prof into it. */
  readonly profileDir?: string | undefined;
  /** logLevel of every process (LOG_LEVEL; default info, as deployed). */
  readonly logLevel?: string;
}

/** BenchMesh is a running set of services (+ gateway); see the file comment. */
export class BenchMesh {
  readonly order: ServiceClient<typeof OrderService>;
  readonly inventory: ServiceClient<typeof InventoryService>;
  private constructor(
    readonly root: string,
    readonly ports: Readonly<Record<ServiceName | "gateway", number>>,
    readonly procs: ReadonlyMap<string, BenchChild>,
  ) {
    this.order = createClient(OrderService, this.address("order"), { defaultTimeoutMs: 10_000 });
    this.inventory = createClient(InventoryService, this.address("inventory"), { defaultTimeoutMs: 10_000 });
  }

  /** start launches inventory, then payment and order, then the gateway, each waited for. */
  static async start(options: MeshOptions): Promise<BenchMesh> {
    await ensureBuilt();
    const root = mkdtempSync(path.join(tmpdir(), "shopmesh-bench-"));
    const run = crypto.randomUUID().slice(0, 8);
    const ports = { inventory: await freePort(), payment: await freePort(), order: await freePort(), gateway: await freePort() };
    const procs = new Map<string, BenchChild>();
    const common = { HOST: "127.0.0.1", KAFKA_BROKERS: options.brokers, LOG_FORMAT: "json", LOG_LEVEL: options.logLevel ?? "info" };
    const launch = async (name: ServiceName) => {
      const dataDir = path.join(root, name);
      mkdirSync(dataDir, { recursive: true });
      const child = BenchChild.node(bundlePath(name), {
        name,
        cpus: options.cpus?.[name],
        cpuProfDir: options.profileDir,
        env: {
          ...common,
          PORT: String(ports[name]),
          DATA_DIR: dataDir,
          KAFKA_GROUP_ID: `bench-${run}-${name}`,
          KAFKA_FROM_BEGINNING: "false",
          INVENTORY_ADDR: `127.0.0.1:${ports.inventory}`,
        },
      });
      procs.set(name, child);
      await waitFor(child, () => checkHealth(`127.0.0.1:${ports[name]}`).then((s) => s === "SERVING"), 90_000);
    };
    try {
      await launch("inventory");
      await Promise.all([launch("payment"), launch("order")]);
      if (options.withGateway) {
        const gateway = BenchChild.node(bundlePath("gateway"), {
          name: "gateway",
          cpus: options.cpus?.gateway,
          cpuProfDir: options.profileDir,
          env: {
            ...common,
            PORT: String(ports.gateway),
            ORDER_ADDR: `127.0.0.1:${ports.order}`,
            PAYMENT_ADDR: `127.0.0.1:${ports.payment}`,
            INVENTORY_ADDR: `127.0.0.1:${ports.inventory}`,
            KAFKA_GROUP_IDS: SERVICES.map((s) => `bench-${run}-${s}`).join(","),
            JWT_SECRET: DEV_JWT_SECRET,
          },
        });
        procs.set("gateway", gateway);
        await waitFor(gateway, () => fetch(`http://127.0.0.1:${ports.gateway}/healthz`).then((r) => r.ok), 60_000);
      }
    } catch (error) {
      for (const child of [...procs.values()].reverse()) await child.stop("SIGKILL");
      rmSync(root, { recursive: true, force: true });
      throw error;
    }
    return new BenchMesh(root, ports, procs);
  }

  address(name: ServiceName | "gateway"): string {
    return `127.0.0.1:${this.ports[name]}`;
  }

  get gatewayUrl(): string {
    return `http://${this.address("gateway")}`;
  }

  /** token mints a JWT the gateway accepts for writes (the dev secret the mesh's gateway was started with). */
  token(): Promise<string> {
    return signToken(
      { issuer: "shopmesh-dev", audience: "shopmesh-api", secret: DEV_JWT_SECRET, algorithms: ["HS256"] },
      { subject: "bench", scopes: ALL_WRITE_SCOPES, ttlSeconds: 3600 },
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

  /** rss is each process's resident set size in bytes now. */
  rss(): Record<string, number> {
    return Object.fromEntries([...this.procs].map(([name, child]) => [name, child.rssBytes()]));
  }

  /** stop sends SIGTERM (profiles are written on this graceful exit): gateway first, then order, payment, inventory. */
  async stop(): Promise<void> {
    this.order.close();
    this.inventory.close();
    for (const name of ["gateway", "order", "payment", "inventory"]) await this.procs.get(name)?.stop("SIGTERM", 20_000);
    rmSync(this.root, { recursive: true, force: true });
  }
}

async function waitFor(child: BenchChild, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.hasExited) throw new Error(`${child.name} exited during start-up:\n${child.output()}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${child.name} not ready within ${timeoutMs} ms:\n${child.output()}`);
    await sleep(200);
  }
}

/** freePort asks the OS for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** pinMesh pins each named process of the mesh to its CPUs (see repin); names without CPUs are left alone. */
export function pinMesh(mesh: BenchMesh, cpus: Partial<Record<ServiceName | "gateway", string>>): void {
  for (const [name, list] of Object.entries(cpus)) {
    if (list) repin(mesh.procs.get(name)?.pid, list);
  }
}
