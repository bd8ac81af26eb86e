/**
 * ProcessMesh is the one way to run the mesh as processes on this machine, shared by `npm start` (scripts/start.ts),
 * the benchmarks (bench/lib/mesh.ts) and the system tests (test/system/mesh.ts): inventory, payment, order and
 * optionally the gateway as child processes of this Node, from their TypeScript source (`node --import tsx`) or from
 * the bundles scripts/build.ts writes (`node --enable-source-maps dist/<name>/main.js`, built once per run). It
 * passes each its port, DATA_DIR, broker, consumer group and the addresses of the others; starts inventory first
 * (order opens its ReserveStock stream at start), then payment and order, then the gateway; waits for each to report
 * SERVING (grpc.health.v1 for a service, /healthz for the gateway); captures their output; restarts or kills one on
 * request; and stops everything it started, the gateway first, with SIGTERM and then SIGKILL after a timeout.
 * The broker is the caller's (scripts/mesh/broker.ts). With `commands` (RabbitMQ and an SMTP sink, the caller's too:
 * scripts/mesh/command-brokers.ts) it also runs the notification service, and order sends its commands there.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { checkHealth, createHealthClient } from "#shared/grpc/health-client.js";
import { operatorCredentials, type OperatorCredentials } from "#shared/security/operator-credentials.js";
import { ensureMeshPki } from "#shared/security/pki.js";
import { build, bundlePath, ENTRIES, stopBuildService, type BuildResult } from "../build.js";
import { MeshChild, type ExitStatus } from "./child.js";
import { freePort } from "./free-port.js";
import { waitUntil } from "./wait.js";

/** ServiceName is one of the three services. */
export type ServiceName = "inventory" | "payment" | "order";
/** MeshProcessName is a service, the notification service (commands only, no consumer group) or the gateway. */
export type MeshProcessName = ServiceName | "notification" | "gateway";
/** GrpcProcessName is a process that serves gRPC behind the mesh's mTLS: every one but the gateway. */
export type GrpcProcessName = Exclude<MeshProcessName, "gateway">;
/** START_ORDER: order needs inventory's address (it opens the ReserveStock stream), so inventory comes first. */
export const START_ORDER: readonly ServiceName[] = ["inventory", "payment", "order"];

/** ProcessMeshOptions say how to run the mesh; everything but `brokers` and `run` has a default. */
export interface ProcessMeshOptions {
  readonly brokers: string;
  /** run: "source" starts src/main.ts under tsx; "compiled" starts the dist/ bundles (built once per run). */
  readonly run: "source" | "compiled";
  /** gateway also starts the gateway, in front of the three services. */
  readonly gateway?: boolean;
  /**
   * commands runs the notification service too, and points it and order at this RabbitMQ (RABBITMQ_URL) and SMTP sink
   * (SMTP_URL). Without it order runs with COMMAND_BUS=off: it sends customers no emails, and never reaches for a
   * RabbitMQ on the default port that is not this mesh's.
   */
  readonly commands?: { readonly rabbitmqUrl: string; readonly smtpUrl: string } | undefined;
  /** ports fixes the port of some processes (npm start's 50051…); the others get free ones. */
  readonly ports?: Partial<Record<MeshProcessName, number>>;
  /**
   * metricsPorts fixes the METRICS_PORT of some processes (npm start's 9450…); the others get free ones, so meshes
   * of parallel test files never collide on a default.
   */
  readonly metricsPorts?: Partial<Record<MeshProcessName, number>>;
  /** host every process binds (HOST); clients always use 127.0.0.1. Default 127.0.0.1. */
  readonly host?: string;
  /**
   * dataRoot holds each service's DATA_DIR (`<dataRoot>/<name>`) and log file (see `logFiles`) and is kept;
   * without it a fresh temp directory holds them and is removed at stop (unless `keep`).
   */
  readonly dataRoot?: string;
  /** keep leaves a temp dataRoot in place at stop (to read its logs and databases afterwards). */
  readonly keep?: boolean;
  /** logFiles also writes each process's output to `<dataRoot>/<name>.log` (the ring in memory is always kept). */
  readonly logFiles?: boolean;
  /** groupPrefix gives each service the group `<prefix>-<name>`, starting at the end of the log when new. */
  readonly groupPrefix?: string;
  /** env goes to every process; `processEnv` adds to or overrides it per process. */
  readonly env?: Record<string, string>;
  readonly processEnv?: Partial<Record<MeshProcessName, Record<string, string>>>;
  /** cpus pins a process to a taskset CPU list. */
  readonly cpus?: Partial<Record<MeshProcessName, string>>;
  /** cpuProfDir runs every process with --cpu-prof into `<cpuProfDir>/<name>`. */
  readonly cpuProfDir?: string;
  /** onLine sees every output line of every process (npm start prints them). */
  readonly onLine?: (name: MeshProcessName, line: string) => void;
  /** onExit hears of a process that exits without the mesh stopping it. */
  readonly onExit?: (name: MeshProcessName, status: ExitStatus) => void;
  /** detached: see ChildOptions.detached (npm start). */
  readonly detached?: boolean;
  /** readyTimeoutMs bounds each process's wait for SERVING (default 60 s). */
  readonly readyTimeoutMs?: number;
  /** stopTimeoutMs is how long a process may take after SIGTERM before SIGKILL (default 15 s). */
  readonly stopTimeoutMs?: number;
  /**
   * pkiDir is the mesh's CA and certificates (PKI_DIR), made or renewed at plan time (`npm run certs` does the same);
   * default `<dataRoot>/pki`, a CA of this mesh's own.
   */
  readonly pkiDir?: string;
  /** insecure runs the mesh in plaintext (MESH_INSECURE=1): no certificates, no access policy (the mTLS benchmark's baseline). */
  readonly insecure?: boolean;
}

/** OPERATOR: the operator identity the launcher (and the tools built on it) calls the services with; admin, as tests create orders. */
export const OPERATOR = { name: "operator", role: "admin" } as const;

let built: Promise<BuildResult> | undefined;

/**
 * ensureBuilt bundles every process into dist/ once per run (scripts/build.ts), so compiled meshes run what
 * production runs; later meshes of the same run reuse it.
 */
export function ensureBuilt(): Promise<BuildResult> {
  // The esbuild helper process is not needed after this one build; it would only sit beside the mesh.
  built ??= build().finally(() => stopBuildService());
  return built;
}

/** ProcessMesh is the mesh as child processes; see the file comment. */
export class ProcessMesh {
  private readonly children = new Map<MeshProcessName, MeshChild>();
  private readonly stopping = new Set<MeshChild>();
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly options: ProcessMeshOptions,
    /** names are the processes this mesh runs, in start order. */
    readonly names: readonly MeshProcessName[],
    readonly ports: Readonly<Record<MeshProcessName, number>>,
    /** metricsPorts are each process's METRICS_PORT (`GET /metrics`). */
    readonly metricsPorts: Readonly<Record<MeshProcessName, number>>,
    readonly groupIds: Readonly<Record<ServiceName, string>>,
    readonly dataRoot: string,
    private readonly tempRoot: boolean,
    private readonly envs: Record<MeshProcessName, Record<string, string>>,
    /** operator are the credentials the launcher and its callers use; undefined for an insecure mesh. */
    private readonly operator: OperatorCredentials | undefined,
    /** pkiDir is the mesh's PKI_DIR (its CA, the services' and operators' certificates); undefined when insecure. */
    readonly pkiDir: string | undefined,
  ) {}

  /** plan chooses ports, groups, directories and environments without starting anything (see `start`). */
  static async plan(options: ProcessMeshOptions): Promise<ProcessMesh> {
    const names: MeshProcessName[] = [
      ...START_ORDER,
      ...(options.commands ? (["notification"] as const) : []),
      ...(options.gateway ? (["gateway"] as const) : []),
    ];
    const commandEnv: Record<string, string> = options.commands
      ? { COMMAND_BUS: "rabbitmq", RABBITMQ_URL: options.commands.rabbitmqUrl }
      : { COMMAND_BUS: "off" };
    const ports = {} as Record<MeshProcessName, number>;
    for (const name of names) ports[name] = options.ports?.[name] ?? (await freePort());
    const metricsPorts = {} as Record<MeshProcessName, number>;
    for (const name of names) metricsPorts[name] = options.metricsPorts?.[name] ?? (await freePort());
    const groupIds = Object.fromEntries(
      START_ORDER.map((name) => [name, options.groupPrefix ? `${options.groupPrefix}-${name}` : `shopmesh-${name}`]),
    ) as Record<ServiceName, string>;
    const dataRoot = options.dataRoot ?? mkdtempSync(path.join(tmpdir(), "shopmesh-mesh-"));
    const at = (name: MeshProcessName) => `127.0.0.1:${ports[name]}`;
    const pkiDir = path.resolve(options.pkiDir ?? path.join(dataRoot, "pki"));
    const security: Record<string, string> = options.insecure ? { MESH_INSECURE: "1" } : { PKI_DIR: pkiDir };
    let operator: OperatorCredentials | undefined;
    if (!options.insecure) {
      await ensureMeshPki(pkiDir);
      operator = await operatorCredentials(pkiDir, OPERATOR.name, OPERATOR.role);
    }
    const envs = {} as Record<MeshProcessName, Record<string, string>>;
    for (const name of names) {
      const own: Record<string, string> =
        name === "gateway"
          ? {
              ORDER_ADDR: at("order"),
              PAYMENT_ADDR: at("payment"),
              INVENTORY_ADDR: at("inventory"),
              // Without commands there is no notification service: port 1, where nothing listens, so its routes fail UNAVAILABLE.
              NOTIFICATION_ADDR: options.commands ? at("notification") : "127.0.0.1:1",
              KAFKA_GROUP_IDS: START_ORDER.map((service) => groupIds[service]).join(","),
            }
          : name === "notification"
            ? { DATA_DIR: path.join(dataRoot, name), ...commandEnv, SMTP_URL: options.commands?.smtpUrl ?? "" }
            : {
                DATA_DIR: path.join(dataRoot, name),
                INVENTORY_ADDR: at("inventory"),
                ...(name === "order" ? commandEnv : {}),
                ...(options.groupPrefix ? { KAFKA_GROUP_ID: groupIds[name], KAFKA_FROM_BEGINNING: "false" } : {}),
              };
      if (own["DATA_DIR"]) mkdirSync(own["DATA_DIR"], { recursive: true });
      envs[name] = {
        HOST: options.host ?? "127.0.0.1",
        PORT: String(ports[name]),
        METRICS_PORT: String(metricsPorts[name]),
        KAFKA_BROKERS: options.brokers,
        ...security,
        ...own,
        ...options.env,
        ...options.processEnv?.[name],
      };
    }
    return new ProcessMesh(
      options,
      names,
      ports,
      metricsPorts,
      groupIds,
      dataRoot,
      options.dataRoot === undefined,
      envs,
      operator,
      options.insecure ? undefined : pkiDir,
    );
  }

  /** start plans and starts a mesh in one step. */
  static async start(options: ProcessMeshOptions): Promise<ProcessMesh> {
    const mesh = await ProcessMesh.plan(options);
    await mesh.start();
    return mesh;
  }

  /** start starts every process in order, each waited for; on a failure it stops what it started and rethrows. */
  async start(): Promise<void> {
    try {
      if (this.options.run === "compiled") await ensureBuilt();
      await this.launch("inventory");
      await Promise.all([
        this.launch("payment"),
        this.launch("order"),
        ...(this.names.includes("notification") ? [this.launch("notification")] : []),
      ]);
      if (this.names.includes("gateway")) await this.launch("gateway");
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * credentials are what a caller of `service` dials with: mTLS as the mesh's operator (admin in policy/access.yaml),
   * or undefined (plaintext) for an insecure mesh or a service restarted with `MESH_INSECURE: "1"` (the benchmark's
   * plaintext baseline).
   */
  credentials(service: GrpcProcessName): ChannelCredentials | undefined {
    if (this.envs[service]["MESH_INSECURE"] === "1") return undefined;
    return this.operator?.for(service);
  }

  /** address is `127.0.0.1:<port>` of a process. */
  address(name: MeshProcessName): string {
    return `127.0.0.1:${this.ports[name]}`;
  }

  /** metricsUrl is where a process answers Prometheus scrapes: `http://127.0.0.1:<METRICS_PORT>/metrics`. */
  metricsUrl(name: MeshProcessName): string {
    return `http://127.0.0.1:${this.metricsPorts[name]}/metrics`;
  }

  /** process returns a process's current child (the latest run, after a restart). */
  process(name: MeshProcessName): MeshChild {
    const child = this.children.get(name);
    if (!child) throw new Error(`${name} was never started`);
    return child;
  }

  /** logs returns the last lines a process wrote (all of its runs). */
  logs(name: MeshProcessName, lines = 60): string {
    return this.children.get(name)?.tail(lines) ?? "(not started)";
  }

  /** logFile is where a process's output is written, run after run (with `logFiles`). */
  logFile(name: MeshProcessName): string | undefined {
    return this.options.logFiles ? path.join(this.dataRoot, `${name}.log`) : undefined;
  }

  /** describe prints the last log lines of every process, for failure messages. */
  describe(lines = 30): string {
    return this.names.map((name) => `--- ${name} (${this.address(name)}) ---\n${this.logs(name, lines)}`).join("\n");
  }

  /** kill signals a process and waits for it to exit (SIGKILL: no graceful stop at all). */
  async kill(name: MeshProcessName, signal: NodeJS.Signals = "SIGKILL"): Promise<ExitStatus> {
    const child = this.process(name);
    this.stopping.add(child);
    return child.stop(signal, this.options.stopTimeoutMs);
  }

  /** restart starts a stopped (or killed) process again on the same port and DATA_DIR, plus `env` overrides. */
  async restart(name: MeshProcessName, env: Record<string, string> = {}): Promise<void> {
    if (this.children.get(name)?.hasExited === false) await this.kill(name, "SIGTERM");
    Object.assign(this.envs[name], env);
    await this.launch(name);
  }

  /** rss is each running process's resident set size in bytes now. */
  rss(): Record<string, number> {
    return Object.fromEntries([...this.children].map(([name, child]) => [name, child.rssBytes()]));
  }

  /** signalAll sends `signal` to every process still running, synchronously (for a parent's "exit" handler). */
  signalAll(signal: NodeJS.Signals = "SIGTERM"): void {
    for (const child of this.children.values()) if (!child.hasExited) child.child.kill(signal);
  }

  /**
   * stop stops every process, last started first (the gateway, then order so it stops calling inventory), each with
   * SIGTERM and SIGKILL after the stop timeout, and removes a temp dataRoot. Calling it again returns the same stop.
   */
  stop(onStopping?: (name: MeshProcessName) => void): Promise<void> {
    this.stopped ??= this.stopAll(onStopping);
    return this.stopped;
  }

  private async stopAll(onStopping?: (name: MeshProcessName) => void): Promise<void> {
    for (const name of [...this.names].reverse()) {
      const child = this.children.get(name);
      if (!child || child.hasExited) continue;
      onStopping?.(name);
      await this.kill(name, "SIGTERM");
    }
    this.operator?.close();
    if (!this.tempRoot) return;
    if (this.options.keep) console.error(`[mesh] kept ${this.dataRoot}`);
    else rmSync(this.dataRoot, { recursive: true, force: true });
  }

  private async launch(name: MeshProcessName): Promise<void> {
    if (this.stopped) throw new Error(`the mesh was stopped; ${name} not started`);
    const entry = this.options.run === "compiled" ? bundlePath(name) : ENTRIES[name];
    const onLine = this.options.onLine;
    const child = MeshChild.node(entry, {
      name,
      env: this.envs[name],
      cpus: this.options.cpus?.[name],
      cpuProfDir: this.options.cpuProfDir,
      logFile: this.logFile(name),
      onLine: onLine && ((line) => onLine(name, line)),
      detached: this.options.detached ?? false,
    });
    this.children.set(name, child);
    void child.waitForExit().then((status) => {
      if (!this.stopping.has(child)) this.options.onExit?.(name, status);
    });
    await this.waitUntilServing(name, child);
  }

  private async waitUntilServing(name: MeshProcessName, child: MeshChild): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
    if (name !== "gateway") return waitForServing(child, this.address(name), timeoutMs, this.logFile(name), this.credentials(name));
    const url = `http://${this.address(name)}/healthz`;
    const ready = async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      return ((await response.json()) as { status?: string }).status === "SERVING";
    };
    await waitUntil(ready, {
      timeoutMs,
      intervalMs: 200,
      signal: child.exitSignal,
      message: `the gateway to answer SERVING at ${url}`,
      describe: () => lastOutput(child, this.logFile(name)),
    });
  }
}

/**
 * waitForServing polls grpc.health.v1 on `address` until it answers SERVING. It fails as soon as `child` exits, and
 * after `timeoutMs` otherwise, with the last health answer and the child's last output lines in the error.
 */
export async function waitForServing(
  child: MeshChild,
  address: string,
  timeoutMs = 60_000,
  logFile?: string,
  credentials?: ChannelCredentials,
): Promise<void> {
  const client = createHealthClient(address, credentials);
  let last = "not asked yet";
  try {
    await waitUntil(
      async () => {
        last = await checkHealth(address, { client });
        return last === "SERVING";
      },
      {
        timeoutMs,
        intervalMs: 200,
        signal: child.exitSignal,
        message: `${child.name} to report SERVING on ${address}`,
        describe: () => `health ${last}${lastOutput(child, logFile)}`,
      },
    );
  } finally {
    client.close();
  }
}

function lastOutput(child: MeshChild, logFile: string | undefined): string {
  return `\nIts last output${logFile ? ` (full log: ${logFile})` : ""}:\n${child.tail()}`;
}
