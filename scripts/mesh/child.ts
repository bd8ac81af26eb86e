/**
 * MeshChild is one child process of the harness (a service, the gateway, a benchmark's echo server or load
 * generator): started with this process's own Node (`process.execPath`) or any executable, optionally pinned to CPUs
 * with `taskset` and profiled with `--cpu-prof`, its output captured line by line (a bounded ring in memory, an
 * optional log file, an optional live callback), and stopped with a signal, then SIGKILL after a timeout.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** ROOT is the repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** HAS_TASKSET tells whether `taskset` can pin processes here (util-linux); without it nothing is pinned. */
export const HAS_TASKSET = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

/** ExitStatus is how a child process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** ChildOptions describe one child process. */
export interface ChildOptions {
  readonly name: string;
  /** env is laid over {@link childEnv}. */
  readonly env?: NodeJS.ProcessEnv;
  /** cpus is a taskset CPU list ("1", "0-1"); undefined leaves the process to the scheduler. */
  readonly cpus?: string | undefined;
  /** cpuProfDir, when set, runs node with --cpu-prof into `<cpuProfDir>/<name>` (written at a graceful exit). */
  readonly cpuProfDir?: string | undefined;
  /** args follow the entry on the command line. */
  readonly args?: readonly string[];
  /** logFile, when set, receives every captured line as it arrives. */
  readonly logFile?: string | undefined;
  /** onLine sees every line of stdout and stderr as it arrives (e.g. to print it with a prefix). */
  readonly onLine?: ((line: string, stream: "out" | "err") => void) | undefined;
  /**
   * detached puts the child in a process group of its own, so a Ctrl-C in the terminal reaches only the parent,
   * which then stops its children one by one (a second signal would make a service skip its graceful drain).
   */
  readonly detached?: boolean;
}

/** RING_LINES bounds the captured output kept in memory: a service at full load may log a line per request. */
const RING_LINES = 5_000;

/** MeshChild is one running (or exited) child process; see the file comment. */
export class MeshChild {
  readonly child: ChildProcess;
  private readonly ring: string[] = [];
  private exitStatus: ExitStatus | undefined;
  private readonly exit: Promise<ExitStatus>;
  private readonly exitController = new AbortController();

  private constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    private readonly options: ChildOptions,
  ) {
    this.child = spawn(command, args, {
      cwd: ROOT,
      env: { ...childEnv(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: options.detached ?? false,
    });
    this.capture(this.child.stdout, "out");
    this.capture(this.child.stderr, "err");
    this.exit = new Promise((resolve) => {
      const settle = (status: ExitStatus, line: string) => {
        if (this.exitStatus) return;
        this.exitStatus = status;
        this.record("---", line);
        this.exitController.abort(new Error(`${this.name} exited (code ${status.code}, signal ${status.signal}):\n${this.tail()}`));
        resolve(status);
      };
      this.child.once("exit", (code, signal) => settle({ code, signal }, `process exited (code ${code}, signal ${signal})`));
      this.child.once("error", (error) => settle({ code: null, signal: null }, `spawn failed: ${error.message}`));
    });
  }

  /**
   * node starts an entry under the repository with this process's Node: a built `.js` bundle as `node [--cpu-prof]
   * --enable-source-maps <entry>`, a `.ts` file as `node [--cpu-prof] --import tsx <entry>`.
   */
  static node(entry: string, options: ChildOptions): MeshChild {
    const typescript = entry.endsWith(".ts");
    const tsx = path.join(ROOT, "node_modules", "tsx");
    if (typescript && !existsSync(tsx)) throw new Error(`tsx is not installed (${tsx}); run npm ci`);
    if (!typescript && !existsSync(path.resolve(ROOT, entry))) throw new Error(`${entry} does not exist; build it first (npm run build)`);
    const nodeArgs = [
      // One directory per process: node writes a profile per thread (tsx's loader hooks run in a worker of their own).
      ...(options.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", path.join(options.cpuProfDir, options.name)] : []),
      ...(typescript ? ["--import", "tsx"] : ["--enable-source-maps"]),
      path.resolve(ROOT, entry),
      ...(options.args ?? []),
    ];
    const [command, args] = pinned(options.cpus, process.execPath, nodeArgs);
    return new MeshChild(options.name, command, args, options);
  }

  /** command starts any executable (a load generator). */
  static command(command: string, args: readonly string[], options: ChildOptions): MeshChild {
    const [cmd, all] = pinned(options.cpus, command, args);
    return new MeshChild(options.name, cmd, all, options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** hasExited tells whether the process is gone. */
  get hasExited(): boolean {
    return this.exitStatus !== undefined;
  }

  /** exited is how the process ended, once it has. */
  get exited(): ExitStatus | undefined {
    return this.exitStatus;
  }

  /** exitSignal aborts when the process exits, with its last output as the reason: it ends a wait on this process. */
  get exitSignal(): AbortSignal {
    return this.exitController.signal;
  }

  /** tail returns the last `n` captured lines, each tagged `[<name> out|err]`, for failure messages. */
  tail(n = 40): string {
    return this.ring.slice(-n).join("\n");
  }

  /** output returns every captured line still in memory (the last {@link RING_LINES}), each tagged like {@link tail}'s. */
  output(): string[] {
    return [...this.ring];
  }

  /** stop sends `signal` (if still running) and waits up to `timeoutMs` for the exit; SIGKILL after that. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<ExitStatus> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (result !== "timeout") return result;
    this.record("---", `no exit ${timeoutMs} ms after ${signal}; sending SIGKILL`);
    this.child.kill("SIGKILL");
    return this.exit;
  }

  /** waitForExit resolves with the exit code and signal. */
  waitForExit(): Promise<ExitStatus> {
    return this.exit;
  }

  /** rssBytes reads VmRSS of the process (through taskset's exec the pid is the same); 0 when unreadable. */
  rssBytes(): number {
    if (this.pid === undefined || this.hasExited) return 0;
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"));
      return match ? Number(match[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  private capture(stream: NodeJS.ReadableStream | null, tag: "out" | "err"): void {
    let rest = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) this.line(line, tag);
    });
    stream?.on("end", () => rest && this.line(rest, tag));
  }

  private line(line: string, tag: "out" | "err"): void {
    this.options.onLine?.(line, tag);
    this.record(tag, line);
  }

  private record(tag: string, line: string): void {
    const text = `[${this.name} ${tag}] ${line}`;
    this.ring.push(text);
    if (this.ring.length > RING_LINES) this.ring.splice(0, RING_LINES / 5);
    if (this.options.logFile) appendFileSync(this.options.logFile, `${text}\n`);
  }
}

/**
 * childEnv is this process's environment for a child. Under vitest it leaves out the runner's own variables:
 * NODE_OPTIONS would load its hooks into the child, and NODE_ENV=test is the runner's, not the service's.
 */
export function childEnv(): NodeJS.ProcessEnv {
  if (process.env["VITEST"] === undefined) return { ...process.env };
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("VITEST") || key === "NODE_OPTIONS" || key === "TEST" || key === "NODE_ENV") continue;
    env[key] = value;
  }
  return env;
}

/** pinned prefixes a command with `taskset -c <cpus>` when cpus are given and taskset works. */
function pinned(cpus: string | undefined, command: string, args: readonly string[]): [string, string[]] {
  if (!cpus || !HAS_TASKSET) return [command, [...args]];
  return ["taskset", ["-c", cpus, command, ...args]];
}

/**
 * repin moves a running process and all its threads to `cpus` (`taskset -a -p -c`); threads it starts later inherit
 * it. False when taskset is missing or refuses.
 */
export function repin(pid: number | undefined, cpus: string): boolean {
  if (pid === undefined || !HAS_TASKSET) return false;
  return spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" }).status === 0;
}
