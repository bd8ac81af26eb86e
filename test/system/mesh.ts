/**
 * The system-test mesh: inventory, payment and order as real child processes against the suite's real broker, each
 * with its own temp DATA_DIR, free port and unique consumer group, plus typed clients and an EventLog of everything
 * produced after the mesh started. One mesh per test file; tests inside it use their own products and customers.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inject } from "vitest";
import { InventoryService } from "../../gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "../../gen/shop/order/v1/order_service_pb.js";
import { PaymentService } from "../../gen/shop/payment/v1/payment_service_pb.js";
import { createKafkaClient, parseBrokers } from "../../services/shared/src/events/kafka-client.js";
import { Topics } from "../../services/shared/src/events/topics.js";
import { createClient, type ServiceClient } from "../../services/shared/src/grpc/client.js";
import { commitOffsets, EventLog, quietLogger, type TopicOffsets } from "./event-log.js";
import { ROOT, ServiceProcess, waitForServing } from "./processes.js";
import { freePort } from "./wait.js";

export type ServiceName = "inventory" | "payment" | "order";
/** START_ORDER: order needs inventory's address (it opens the ReserveStock stream), so inventory comes first. */
export const START_ORDER: readonly ServiceName[] = ["inventory", "payment", "order"];

/** CONSUMED_TOPICS is what each service's group reads (docs/architecture.md). */
const CONSUMED_TOPICS: Record<ServiceName, readonly string[]> = {
  order: [Topics.paymentEvents],
  payment: [Topics.orderEvents],
  inventory: [Topics.orderEvents, Topics.paymentEvents],
};

export interface MeshOptions {
  /** env adds or overrides environment variables per service (e.g. PAYMENT_CURRENCIES). */
  readonly env?: Partial<Record<ServiceName, Record<string, string>>>;
  /** readyTimeoutMs bounds each service's wait for SERVING (default 60 s). */
  readonly readyTimeoutMs?: number;
}

/** Mesh is a running set of the three services; see the file comment. */
export class Mesh {
  readonly inventory: ServiceClient<typeof InventoryService>;
  readonly payment: ServiceClient<typeof PaymentService>;
  readonly order: ServiceClient<typeof OrderService>;
  private readonly procs = new Map<ServiceName, ServiceProcess>();

  private constructor(
    readonly brokers: string,
    readonly root: string,
    readonly ports: Readonly<Record<ServiceName, number>>,
    readonly groupIds: Readonly<Record<ServiceName, string>>,
    readonly events: EventLog,
    private readonly baseEnv: Record<ServiceName, Record<string, string>>,
    private readonly readyTimeoutMs: number,
  ) {
    const opts = { defaultTimeoutMs: 10_000 };
    this.inventory = createClient(InventoryService, this.address("inventory"), opts);
    this.payment = createClient(PaymentService, this.address("payment"), opts);
    this.order = createClient(OrderService, this.address("order"), opts);
  }

  /** start launches a mesh: see the file comment. */
  static async start(options: MeshOptions = {}): Promise<Mesh> {
    const brokers = kafkaBrokers();
    const root = mkdtempSync(path.join(tmpdir(), "shopmesh-system-"));
    const run = crypto.randomUUID();
    const ports = { inventory: await freePort(), payment: await freePort(), order: await freePort() };
    const groupIds = { inventory: `test-${run}-inventory`, payment: `test-${run}-payment`, order: `test-${run}-order` };
    const baseEnv = {} as Record<ServiceName, Record<string, string>>;
    for (const name of START_ORDER) {
      const dataDir = path.join(root, name);
      mkdirSync(dataDir, { recursive: true });
      baseEnv[name] = {
        HOST: "127.0.0.1",
        PORT: String(ports[name]),
        DATA_DIR: dataDir,
        KAFKA_BROKERS: brokers,
        KAFKA_GROUP_ID: groupIds[name],
        KAFKA_FROM_BEGINNING: "false",
        LOG_FORMAT: "json",
        LOG_LEVEL: process.env["SYSTEM_TEST_LOG_LEVEL"] ?? "info",
        INVENTORY_ADDR: `127.0.0.1:${ports.inventory}`,
        ...options.env?.[name],
      };
    }
    const events = await EventLog.open(brokers);
    let mesh: Mesh | undefined;
    try {
      // Fresh groups with KAFKA_FROM_BEGINNING=false would start at "latest" whenever they first join — after a
      // SIGKILL before any commit, that skips the events produced while the service was down. Committing the
      // snapshot offsets for each group up front makes every restart resume exactly where the mesh began.
      await precommitGroups(brokers, groupIds, events.start);
      mesh = new Mesh(brokers, root, ports, groupIds, events, baseEnv, options.readyTimeoutMs ?? 60_000);
      await mesh.launch("inventory");
      await Promise.all([mesh.launch("payment"), mesh.launch("order")]);
    } catch (error) {
      if (mesh) await mesh.stop();
      else {
        await events.close();
        rmSync(root, { recursive: true, force: true });
      }
      throw error;
    }
    return mesh;
  }

  /** address is `127.0.0.1:<port>` of a service. */
  address(name: ServiceName): string {
    return `127.0.0.1:${this.ports[name]}`;
  }

  /** process returns a service's current child process. */
  process(name: ServiceName): ServiceProcess {
    const proc = this.procs.get(name);
    if (!proc) throw new Error(`${name} was never started`);
    return proc;
  }

  /** logs returns a service's captured output (all of its runs). */
  logs(name: ServiceName, lines = 60): string {
    return this.procs.get(name)?.tail(lines) ?? "(not started)";
  }

  /** kill signals a service and waits for it to exit (SIGKILL: no graceful stop at all). */
  async kill(name: ServiceName, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await this.process(name).stop(signal);
  }

  /** restart starts a stopped (or killed) service again with the same port and DATA_DIR, plus `env` overrides. */
  async restart(name: ServiceName, env: Record<string, string> = {}): Promise<void> {
    const current = this.procs.get(name);
    if (current && !current.hasExited) await current.stop("SIGTERM");
    Object.assign(this.baseEnv[name], env);
    await this.launch(name);
  }

  /** stop sends SIGTERM to every service (order first, so it stops calling inventory) and waits for them. */
  async stop(): Promise<void> {
    for (const name of [...START_ORDER].reverse()) await this.procs.get(name)?.stop("SIGTERM");
    for (const client of [this.order, this.payment, this.inventory]) client.close();
    await this.events.close();
    if (process.env["SYSTEM_TEST_KEEP"] === "1") console.log(`[mesh] kept ${this.root}`);
    else rmSync(this.root, { recursive: true, force: true });
  }

  /** describe prints the last log lines of every service, for failure messages. */
  describe(lines = 30): string {
    return START_ORDER.map((name) => `--- ${name} (${this.address(name)}) ---\n${this.logs(name, lines)}`).join("\n");
  }

  private async launch(name: ServiceName): Promise<void> {
    const env = { ...childEnv(), ...this.baseEnv[name] };
    const entry = path.join(ROOT, "services", name, "src", "main.ts");
    const proc = new ServiceProcess(name, entry, env, path.join(this.root, `${name}.log`));
    this.procs.set(name, proc);
    await waitForServing(proc, this.address(name), this.readyTimeoutMs);
  }
}

/** kafkaBrokers is the suite's broker (test/global-setup.ts). */
export function kafkaBrokers(): string {
  const brokers = process.env["KAFKA_BROKERS"] ?? inject("kafkaBrokers");
  if (!brokers) throw new Error("no KAFKA_BROKERS: run the system tests through vitest (test/global-setup.ts)");
  return brokers;
}

/** childEnv is this process's environment without the test runner's own variables. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("VITEST") || key === "NODE_OPTIONS" || key === "TEST" || key === "NODE_ENV") continue;
    env[key] = value;
  }
  return env;
}

async function precommitGroups(brokers: string, groupIds: Record<ServiceName, string>, start: TopicOffsets): Promise<void> {
  const kafka = createKafkaClient({ brokers: parseBrokers(brokers), clientId: "shopmesh-system-test-admin", logger: quietLogger() });
  await Promise.all(START_ORDER.map((name) => commitOffsets(kafka, groupIds[name], start, CONSUMED_TOPICS[name])));
}
