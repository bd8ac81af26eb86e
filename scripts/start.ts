/**
 * start runs the whole mesh on this machine (`npm start`): it makes sure a Kafka broker runs and the topics exist,
 * brings up RabbitMQ and Mailpit (the commands and the emails they ask for, scripts/mesh/command-brokers.ts), builds
 * the processes (scripts/build.ts: esbuild, well under a second) and starts inventory, payment, order, notification
 * and the gateway from their bundles, `node --enable-source-maps dist/<name>/main.js`, as production runs them (not through
 * tsx, whose loader costs ~47 MiB per process), with their default ports and `.data/` directories, waits until each
 * is SERVING, prints where everything runs, and streams their logs prefixed with the process name. Ctrl-C (or
 * SIGTERM) stops what it started: the processes with SIGTERM, then the broker, but only if this script started it. A
 * process that dies stops everything, with a non-zero exit. The launching itself is the harness's ProcessMesh
 * (scripts/mesh/), the same the benchmarks and the system tests use.
 *
 * Broker: KAFKA_BROKERS set → used as is (only the topics are created); otherwise `bash scripts/kafka.sh start`
 * (reuses a broker already answering on 127.0.0.1:${KAFKA_PORT:-9092}) with its TLS listener on
 * ${KAFKA_TLS_PORT:-9094}, and the processes talk to Kafka there (KAFKA_TLS=1), each with its own certificate;
 * MESH_INSECURE=1 keeps Kafka plaintext too. LOG_FORMAT passes through; in a terminal it
 * defaults to pretty. START_TIMEOUT_MS bounds each process's start (default 60000).
 *
 * Commands: RABBITMQ_URL and SMTP_URL, when both are set, are used as they are; otherwise `bash scripts/rabbitmq.sh
 * start` and `bash scripts/mailpit.sh start` on their default ports (RABBITMQ_NODE_PORT, MAILPIT_SMTP_PORT and
 * MAILPIT_HTTP_PORT move them), each reused when already running and stopped at the end only if started here.
 *
 * Traces: unless TRACING or OTEL_EXPORTER_OTLP_ENDPOINT says otherwise, `bash scripts/zipkin.sh start` (reuses a Zipkin
 * already answering on 127.0.0.1:9411, else downloads it once and starts it) and every process exports its spans
 * there (TRACING=zipkin). A Zipkin that cannot start (no Maven Central, say) leaves tracing off, with a warning: the
 * shop runs without its trace viewer. It is stopped at the end only if this script started it.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { acquireBroker, type Broker } from "./mesh/broker.js";
import { acquireCommandBrokers, type CommandBrokers } from "./mesh/command-brokers.js";
import { ROOT } from "./mesh/child.js";
import { ensureMeshPki } from "#shared/security/pki.js";
import { ensureBuilt, OPERATOR, ProcessMesh, type MeshProcessName } from "./mesh/mesh.js";

/** PORTS are the documented default ports (README, docs/architecture.md). */
const PORTS: Readonly<Record<MeshProcessName, number>> = {
  order: 50051,
  payment: 50052,
  inventory: 50053,
  notification: 50054,
  gateway: 8080,
};
/** METRICS_PORTS are the documented default METRICS_PORTs, which ops/prometheus/prometheus.yml scrapes. */
const METRICS_PORTS: Readonly<Record<MeshProcessName, number>> = {
  gateway: 9450,
  order: 9451,
  payment: 9452,
  inventory: 9453,
  notification: 9454,
};
const COLORS: Readonly<Record<MeshProcessName, number>> = { inventory: 36, payment: 35, order: 33, notification: 34, gateway: 32 };
/** COMMAND_PORTS: RabbitMQ's and Mailpit's own defaults, or the scripts' variables (scripts/rabbitmq.sh, scripts/mailpit.sh). */
const COMMAND_PORTS = {
  rabbitmq: Number(process.env["RABBITMQ_NODE_PORT"] ?? 5672),
  smtp: Number(process.env["MAILPIT_SMTP_PORT"] ?? 1025),
  mailpitHttp: Number(process.env["MAILPIT_HTTP_PORT"] ?? 8025),
} as const;

/** RENEW_EVERY_MS: how often npm start checks the service certificates (renewed past half their life). */
const RENEW_EVERY_MS = 60 * 60 * 1000;

function say(message: string): void {
  process.stderr.write(`[start] ${message}\n`);
}

/** Runner owns what this script started, and stops it once, whoever asks first. */
class Runner {
  broker: Broker | undefined;
  commandBrokers: CommandBrokers | undefined;
  mesh: ProcessMesh | undefined;
  /** zipkinStartedHere: this script started the Zipkin server, so it stops it too. */
  zipkinStartedHere = false;
  private stopping: Promise<never> | undefined;

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /**
   * renewCertificates plays the part a SPIFFE agent plays in production: every hour it re-issues the service
   * certificates past half their 24 h life, and the services pick them up within PKI_REFRESH_MS, without a restart.
   */
  renewCertificates(): void {
    const pkiDir = this.mesh?.pkiDir;
    if (pkiDir === undefined) return;
    const timer = setInterval(() => {
      ensureMeshPki(pkiDir).then(
        (report) => {
          const issued = report.changes.filter((change) => change.action !== "kept").map((change) => change.subject);
          if (issued.length > 0) say(`certificates renewed: ${issued.join(", ")}`);
        },
        (error: unknown) => say(`renewing certificates failed: ${error instanceof Error ? error.message : String(error)}`),
      );
    }, RENEW_EVERY_MS);
    timer.unref();
  }

  /** stopAll stops the processes (last started first), then the broker if this script started it, and exits. */
  stopAll(exitCode: number): Promise<never> {
    this.stopping ??= (async () => {
      await this.mesh?.stop((name) => say(`stopping ${name}`));
      if (this.broker?.startedHere) say("stopping the Kafka broker this script started");
      await this.broker?.release();
      // Only what this script started (RabbitMQ takes about 13 s to stop).
      await this.commandBrokers?.release();
      if (this.zipkinStartedHere) {
        say("stopping the Zipkin server this script started");
        zipkin("stop");
      }
      process.exit(exitCode);
    })();
    return this.stopping;
  }
}

/** zipkinUrl is where scripts/zipkin.sh runs Zipkin (ZIPKIN_PORT, as the script reads it). */
function zipkinUrl(): string {
  return `http://127.0.0.1:${process.env["ZIPKIN_PORT"] ?? "9411"}`;
}

/** zipkin runs `bash scripts/zipkin.sh <command>` (its own waits are bounded), answering whether it succeeded. */
function zipkin(command: "start" | "stop" | "status"): boolean {
  const run = spawnSync("bash", [path.join(ROOT, "scripts", "zipkin.sh"), command], {
    cwd: ROOT,
    stdio: command === "status" ? "ignore" : "inherit",
  });
  return run.status === 0;
}

/**
 * startTracing brings up the trace viewer unless the user chose otherwise, and answers the TRACING the processes get
 * (undefined: leave theirs, as the user set it).
 */
function startTracing(runner: Runner): string | undefined {
  if (process.env["TRACING"] !== undefined || process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] !== undefined) return undefined;
  const running = zipkin("status");
  if (!running && !zipkin("start")) {
    say("Zipkin did not start (see above); tracing stays off. The shop runs without its trace viewer.");
    return "off";
  }
  runner.zipkinStartedHere = !running;
  return "zipkin";
}

/** buildWebUiIfMissing builds web/dist (the UI the gateway serves) on the first start of a fresh clone. */
function buildWebUiIfMissing(): void {
  if (existsSync(path.join(ROOT, "web", "dist", "index.html"))) return;
  say("building the web UI (npm run build:web)");
  const build = spawnSync(path.join(ROOT, "node_modules", ".bin", "vite"), ["build", "web", "--logLevel", "warn"], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (build.status !== 0) throw new Error(`building the web UI failed (exit ${build.status ?? build.signal})`);
}

/** grpcurlExamples call the services directly: with the operator certificate the mesh issued, or plaintext when insecure. */
function grpcurlExamples(mesh: ProcessMesh): string[] {
  const pki = mesh.pkiDir === undefined ? undefined : path.relative(ROOT, mesh.pkiDir);
  const tls =
    pki === undefined
      ? "-plaintext"
      : `-cacert ${pki}/ca.crt -cert ${pki}/clients/${OPERATOR.name}.crt -key ${pki}/clients/${OPERATOR.name}.key`;
  return [
    `  .tools/bin/grpcurl ${tls} 127.0.0.1:50053 shop.inventory.v1.InventoryService/ListProducts`,
    `  .tools/bin/grpcurl ${tls} -H 'idempotency-key: demo-1' -d '{"customerId":"c1","cardToken":"tok_visa",` +
      `"lines":[{"productId":"sku-espresso","quantity":1}]}' 127.0.0.1:50051 shop.order.v1.OrderService/CreateOrder`,
  ];
}

function table(mesh: ProcessMesh, broker: Broker, commands: CommandBrokers, zipkinUp: boolean): string {
  const kafka = broker.tlsBrokers
    ? `${broker.tlsBrokers} TLS (the services, with their certificates); ${broker.brokers} plaintext (tools)`
    : broker.brokers;
  const rows = mesh.names.map(
    (name) => `  ${name.padEnd(12)} ${name === "gateway" ? "HTTP" : "gRPC"}  ${mesh.address(name)}   metrics ${mesh.metricsUrl(name)}`,
  );
  return [
    "",
    "shopmesh is running:",
    ...rows,
    `  ${"kafka".padEnd(12)} ${kafka}`,
    `  ${"rabbitmq".padEnd(12)} ${commands.rabbitmqUrl.replace(/\/\/[^@]*@/, "//")}   (commands: notification.email)`,
    `  ${"smtp".padEnd(12)} ${commands.smtpUrl}${commands.mailpitUrl ? `   Mailpit UI ${commands.mailpitUrl}/ (every email sent)` : ""}`,
    ...(zipkinUp ? [`  ${"zipkin".padEnd(12)} ${zipkinUrl()}/zipkin/   (traces of every request: "Run Query")`] : []),
    "",
    "Open the shop:   http://127.0.0.1:8080/      API docs: http://127.0.0.1:8080/docs",
    "",
    "Try:",
    "  curl -s http://127.0.0.1:8080/api/v1/products/sku-espresso",
    ...grpcurlExamples(mesh),
    "  npm run dlq -- list",
    "  npm run dlq -- parked notification.email",
    "",
    "Ctrl-C stops everything this started.",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const tty = process.stdout.isTTY === true;
  // The children write to a pipe, so they would pick JSON; a person at a terminal wants pretty lines.
  if (!process.env["LOG_FORMAT"]) process.env["LOG_FORMAT"] = tty ? "pretty" : "json";
  const prefix = (name: MeshProcessName) => (tty ? `\x1b[${COLORS[name]}m${name.padEnd(12)}\x1b[0m| ` : `${name.padEnd(12)}| `);
  const runner = new Runner();
  // SIGHUP: the terminal went away; the processes are detached (below), so they would otherwise outlive it.
  // `on`, not `once`: a repeated signal while the processes drain must not end this script (no listener left would
  // let tsx's preflight exit it, orphaning them). tsx, which runs this script, relays a Ctrl-C it also received itself.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => (runner.isStopping ? say(`${signal}: already stopping`) : void runner.stopAll(0)));
  }
  // Last resort if this script dies some other way: the detached processes must not outlive it.
  process.once("exit", () => runner.mesh?.signalAll("SIGTERM"));
  try {
    const built = await ensureBuilt();
    say(`built ${Object.keys(built.bundles).join(", ")} into ${path.relative(ROOT, built.outdir)}/ in ${built.durationMs} ms`);
    buildWebUiIfMissing();
    if (process.env["KAFKA_BROKERS"]?.trim()) say(`using KAFKA_BROKERS=${process.env["KAFKA_BROKERS"]}; creating missing topics`);
    const insecure = process.env["MESH_INSECURE"] === "1";
    const pkiDir = path.join(ROOT, ".data", "pki");
    // 9094, not 9093: kafka.sh's controller listens on KAFKA_PORT + 1.
    const tls = insecure ? undefined : { port: process.env["KAFKA_TLS_PORT"] ?? "9094", pkiDir };
    runner.broker = await acquireBroker(process.env["KAFKA_PORT"] ?? "9092", "inherit", tls);
    const kafkaTls = runner.broker.tlsBrokers !== undefined;
    say("starting RabbitMQ and Mailpit (scripts/rabbitmq.sh, scripts/mailpit.sh) for the commands and their emails");
    runner.commandBrokers = await acquireCommandBrokers(COMMAND_PORTS);
    const tracing = startTracing(runner);
    runner.mesh = await ProcessMesh.plan({
      brokers: runner.broker.tlsBrokers ?? runner.broker.brokers,
      env: {
        ...(kafkaTls ? { KAFKA_TLS: "1" } : {}),
        ...(tracing ? { TRACING: tracing } : {}),
        ...(tracing === "zipkin" ? { ZIPKIN_ENDPOINT: `${zipkinUrl()}/api/v2/spans` } : {}),
      },
      run: "compiled",
      gateway: true,
      commands: runner.commandBrokers,
      ports: PORTS,
      metricsPorts: METRICS_PORTS,
      host: process.env["HOST"] ?? "127.0.0.1",
      dataRoot: path.join(ROOT, ".data"),
      // mTLS with the CA in .data/pki (made on the first start, leaves renewed below); MESH_INSECURE=1 for plaintext.
      insecure,
      pkiDir,
      // The local demo: the web UI fetches a short-lived token from POST /auth/dev-token. Off by default.
      processEnv: { gateway: { AUTH_DEV_TOKENS: process.env["AUTH_DEV_TOKENS"] ?? "true" } },
      // detached: a process group of its own, so Ctrl-C in the terminal reaches only this script, which then stops
      // the processes one by one with SIGTERM. The price: if this script is SIGKILLed, they keep running.
      detached: true,
      onLine: (name, line) => process.stdout.write(`${prefix(name)}${line}\n`),
      onExit: (name, status) => {
        if (runner.isStopping) return;
        say(`${name} exited unexpectedly (code ${status.code}, signal ${status.signal}); stopping everything`);
        void runner.stopAll(1);
      },
      readyTimeoutMs: Number(process.env["START_TIMEOUT_MS"] ?? 60_000),
    });
    await runner.mesh.start();
    runner.renewCertificates();
    process.stderr.write(table(runner.mesh, runner.broker, runner.commandBrokers, tracing === "zipkin"));
  } catch (error) {
    say(`start failed: ${error instanceof Error ? error.message : String(error)}`);
    await runner.stopAll(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
