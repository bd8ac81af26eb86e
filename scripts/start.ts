/**
 * start runs the whole mesh on this machine (`npm start`): it makes sure a Kafka broker runs and the topics exist,
 * builds the processes (scripts/build.ts: esbuild, well under a second) and starts inventory, payment and order (and
 * the gateway, once gateway/src/main.ts exists) from their bundles, `node --enable-source-maps dist/<name>/main.js`,
 * as production runs them (not through tsx, whose loader costs ~47 MiB per process), with their default ports and
 * `.data/` directories, waits until each is SERVING, prints where everything runs, and streams their logs prefixed
 * with the service name. Ctrl-C (or SIGTERM) stops what it started: the services with SIGTERM, then the broker, but
 * only if this script started it. A service that dies stops everything, with a non-zero exit.
 *
 * Broker: KAFKA_BROKERS set → used as is (only the topics are created); otherwise `bash scripts/kafka.sh start`
 * (reuses a broker already answering on 127.0.0.1:${KAFKA_PORT:-9092}). LOG_FORMAT passes through; in a terminal it
 * defaults to pretty. START_TIMEOUT_MS bounds each service's start (default 60000).
 */
import type { ServiceError } from "@grpc/grpc-js";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, bundlePath, stopBuildService, type ProcessName } from "./build.js";
import { ensureTopics } from "./create-topics.js";
import { checkHealth, createHealthClient } from "../services/shared/src/grpc/health-client.js";
import { parseBrokers } from "../services/shared/src/events/kafka-client.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** ProcessSpec is one process `npm start` runs. */
interface ProcessSpec {
  readonly name: ProcessName;
  /** entry is the bundle scripts/build.ts wrote (dist/<name>/main.js). */
  readonly entry: string;
  readonly port: number;
  readonly kind: "grpc" | "http";
  readonly env: Record<string, string>;
}

/** portAnswers tells whether something accepts TCP connections on host:port (used for the HTTP gateway). */
function portAnswers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

const COLORS = [36, 35, 33, 32, 34];

class Runner {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  private brokerStartedHere = false;

  get isStopping(): boolean {
    return this.stopping;
  }

  constructor(
    private readonly color: boolean,
    private readonly startTimeoutMs: number,
  ) {}

  /** ensureBroker returns the brokers to use, starting one with scripts/kafka.sh when none is configured. */
  async ensureBroker(): Promise<string> {
    const configured = process.env["KAFKA_BROKERS"]?.trim();
    if (configured) {
      this.say(`using KAFKA_BROKERS=${configured}; creating missing topics`);
      await ensureTopics(parseBrokers(configured));
      return configured;
    }
    const running = (await this.kafkaScript("status", "ignore")) === 0;
    const code = await this.kafkaScript("start", "inherit");
    if (code !== 0) throw new Error(`\`bash scripts/kafka.sh start\` exited with ${code}; see its output above`);
    this.brokerStartedHere = !running;
    return `127.0.0.1:${process.env["KAFKA_PORT"] ?? "9092"}`;
  }

  /** start spawns one process and waits until it serves; a process that exits later stops everything. */
  async start(spec: ProcessSpec, index: number): Promise<void> {
    const env = { ...process.env, ...spec.env };
    // detached: a process group of its own, so Ctrl-C in the terminal reaches only this script, which then stops
    // the services one by one with SIGTERM (a second signal would make a service skip its graceful drain). The
    // price: if this script is SIGKILLed, the services keep running (stop them by their pids).
    const child = spawn(process.execPath, ["--enable-source-maps", spec.entry], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.children.set(spec.name, child);
    const prefix = this.color ? `\x1b[${COLORS[index % COLORS.length]}m${spec.name.padEnd(9)}\x1b[0m| ` : `${spec.name.padEnd(9)}| `;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on("line", (line) => process.stdout.write(`${prefix}${line}\n`));
    }
    child.once("exit", (code, signal) => {
      this.children.delete(spec.name);
      if (this.stopping) return;
      this.say(`${spec.name} exited unexpectedly (code ${code}, signal ${signal}); stopping everything`);
      void this.stopAll(1);
    });
    await this.waitUntilServing(spec, child);
  }

  /** stopAll stops the services (last started first), then the broker if this script started it, and exits. */
  async stopAll(exitCode: number): Promise<never> {
    if (!this.stopping) {
      this.stopping = true;
      for (const [name, child] of [...this.children].reverse()) {
        this.say(`stopping ${name}`);
        await stopChild(child);
      }
      if (this.brokerStartedHere) {
        this.say("stopping the Kafka broker this script started");
        await this.kafkaScript("stop", "inherit");
      }
    }
    process.exit(exitCode);
  }

  /** killAll sends SIGTERM to whatever still runs, synchronously (for process "exit"). */
  killAll(): void {
    for (const child of this.children.values()) child.kill("SIGTERM");
  }

  say(message: string): void {
    process.stderr.write(`[start] ${message}\n`);
  }

  private async waitUntilServing(spec: ProcessSpec, child: ChildProcess): Promise<void> {
    const address = `127.0.0.1:${spec.port}`;
    const client = spec.kind === "grpc" ? createHealthClient(address) : undefined;
    const deadline = Date.now() + this.startTimeoutMs;
    let last = "no answer";
    try {
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${spec.name} exited during start-up`);
        if (client) {
          last = await checkHealth(address, { client }).catch((error: ServiceError) => error.details ?? String(error));
          if (last === "SERVING") return;
        } else if (await portAnswers("127.0.0.1", spec.port)) {
          return;
        }
        if (Date.now() > deadline) throw new Error(`${spec.name} not ready on ${address} after ${this.startTimeoutMs} ms (${last})`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      client?.close();
    }
  }

  private kafkaScript(command: "start" | "stop" | "status", output: "inherit" | "ignore"): Promise<number> {
    return new Promise((resolve) => {
      const child = spawn("bash", [path.join(ROOT, "scripts", "kafka.sh"), command], { cwd: ROOT, stdio: ["ignore", output, output] });
      child.once("error", () => resolve(127));
      child.once("exit", (code) => resolve(code ?? 1));
    });
  }
}

function stopChild(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

function specs(brokers: string): ProcessSpec[] {
  const common = { HOST: process.env["HOST"] ?? "127.0.0.1", KAFKA_BROKERS: brokers };
  const grpc = (name: ProcessName, port: number): ProcessSpec => ({
    name,
    entry: bundlePath(name),
    port,
    kind: "grpc",
    env: { ...common, PORT: String(port), DATA_DIR: path.join(ROOT, ".data", name), INVENTORY_ADDR: "127.0.0.1:50053" },
  });
  const list = [grpc("inventory", 50053), grpc("payment", 50052), grpc("order", 50051)];
  if (hasGateway()) {
    list.push({
      name: "gateway",
      entry: bundlePath("gateway"),
      port: 8080,
      kind: "http",
      env: {
        ...common,
        PORT: "8080",
        ORDER_ADDR: "127.0.0.1:50051",
        PAYMENT_ADDR: "127.0.0.1:50052",
        INVENTORY_ADDR: "127.0.0.1:50053",
        // The local demo: the web UI fetches a short-lived token from POST /auth/dev-token. Off by default.
        AUTH_DEV_TOKENS: process.env["AUTH_DEV_TOKENS"] ?? "true",
      },
    });
  }
  return list;
}

function hasGateway(): boolean {
  return existsSync(path.join(ROOT, "gateway", "src", "main.ts"));
}

/** buildProcesses bundles what `specs` starts into dist/ (always: it takes well under a second, so never stale). */
async function buildProcesses(runner: Runner): Promise<void> {
  const names: ProcessName[] = ["inventory", "payment", "order", ...(hasGateway() ? (["gateway"] as const) : [])];
  const result = await build({ names });
  await stopBuildService();
  runner.say(`built ${names.join(", ")} into ${path.relative(ROOT, result.outdir)}/ in ${result.durationMs} ms`);
}

/** buildWebUiIfMissing builds web/dist (the UI the gateway serves) on the first start of a fresh clone. */
function buildWebUiIfMissing(runner: Runner): void {
  if (!hasGateway() || existsSync(path.join(ROOT, "web", "dist", "index.html"))) return;
  runner.say("building the web UI (npm run build:web)");
  const build = spawnSync(path.join(ROOT, "node_modules", ".bin", "vite"), ["build", "web", "--logLevel", "warn"], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (build.status !== 0) throw new Error(`building the web UI failed (exit ${build.status ?? build.signal})`);
}

function table(list: readonly ProcessSpec[], brokers: string): string {
  const rows = list.map((s) => `  ${s.name.padEnd(10)} ${s.kind === "grpc" ? "gRPC" : "HTTP"}  127.0.0.1:${s.port}`);
  return [
    "",
    "shopmesh is running:",
    ...rows,
    `  ${"kafka".padEnd(10)} ${brokers}`,
    "",
    ...(list.some((s) => s.name === "gateway")
      ? [
          "Open the shop:   http://127.0.0.1:8080/      API docs: http://127.0.0.1:8080/docs",
          "",
        ]
      : []),
    "Try:",
    ...(list.some((s) => s.name === "gateway") ? ["  curl -s http://127.0.0.1:8080/api/v1/products/sku-espresso"] : []),
    "  .tools/bin/grpcurl -plaintext 127.0.0.1:50053 shop.inventory.v1.InventoryService/ListProducts",
    `  .tools/bin/grpcurl -plaintext -H 'idempotency-key: demo-1' -d '{"customerId":"c1","cardToken":"tok_visa",` +
      `"lines":[{"productId":"sku-espresso","quantity":1}]}' 127.0.0.1:50051 shop.order.v1.OrderService/CreateOrder`,
    "  npm run dlq -- list",
    "",
    "Ctrl-C stops everything this started.",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const tty = process.stdout.isTTY === true;
  // The children write to a pipe, so they would pick JSON; a person at a terminal wants pretty lines.
  if (!process.env["LOG_FORMAT"]) process.env["LOG_FORMAT"] = tty ? "pretty" : "json";
  const runner = new Runner(tty, Number(process.env["START_TIMEOUT_MS"] ?? 60_000));
  // SIGHUP: the terminal went away; the services are detached (below), so they would otherwise outlive it.
  // `on`, not `once`: a repeated signal while the services drain must not end this script (no listener left would let
  // tsx's preflight exit it, orphaning them). tsx, which runs this script, relays a Ctrl-C it also received itself.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => (runner.isStopping ? runner.say(`${signal}: already stopping`) : void runner.stopAll(0)));
  }
  // Last resort if this script dies some other way: the detached services must not outlive it.
  process.once("exit", () => runner.killAll());
  try {
    await buildProcesses(runner);
    buildWebUiIfMissing(runner);
    const brokers = await runner.ensureBroker();
    const list = specs(brokers);
    // Order reserves stock over a stream to inventory, so inventory serves first; the rest start together.
    const [first, ...rest] = list;
    await runner.start(first!, 0);
    await Promise.all(rest.map((spec, i) => runner.start(spec, i + 1)));
    process.stderr.write(table(list, brokers));
  } catch (error) {
    runner.say(`start failed: ${error instanceof Error ? error.message : String(error)}`);
    await runner.stopAll(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
