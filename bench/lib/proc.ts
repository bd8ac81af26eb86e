/**
 * Child processes for the benchmarks: a service started exactly as in production (`node --enable-source-maps
 * dist/<name>/main.js`, the bundle scripts/build.ts writes) or a TypeScript helper (`node --import tsx <entry>`: the
 * echo server, the HTTP load generator), optionally pinned to CPUs with `taskset` and profiled with `--cpu-prof`, its
 * output kept in a small ring for error messages, and its resident memory readable from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** ROOT is the repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** HAS_TASKSET tells whether `taskset` can pin processes here (util-linux); without it nothing is pinned. */
export const HAS_TASKSET = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

/** pinned prefixes a command with `taskset -c <cpus>` when cpus are given and taskset works. */
export function pinned(cpus: string | undefined, command: string, args: readonly string[]): [string, string[]] {
  if (!cpus || !HAS_TASKSET) return [command, [...args]];
  return ["taskset", ["-c", cpus, command, ...args]];
}

/** ChildOptions describe one benchmark child process. */
export interface ChildOptions {
  readonly name: string;
  readonly env?: NodeJS.ProcessEnv;
  /** cpus is a taskset CPU list ("1", "0-1"); undefined leaves the process to the scheduler. */
  readonly cpus?: string | undefined;
  /** cpuProfDir, when set, runs node with --cpu-prof into that directory (written at a graceful exit). */
  readonly cpuProfDir?: string | undefined;
  /** args follow the entry on the command line. */
  readonly args?: readonly string[];
}

/** BenchChild is one running (or exited) child process. */
export class BenchChild {
  readonly child: ChildProcess;
  private readonly ring: string[] = [];
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        // Only the tail is kept: a service at full load logs a line per request, and the pipe must never fill.
        this.ring.push(chunk);
        if (this.ring.length > 200) this.ring.splice(0, 100);
      });
    }
    this.exit = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
      this.child.once("error", (error) => {
        this.ring.push(`spawn failed: ${error.message}`);
        this.exited = { code: null, signal: null };
        resolve(this.exited);
      });
    });
  }

  /**
   * node starts an entry under the repository: a built `.js` bundle as `node [--cpu-prof] --enable-source-maps
   * <entry>`, a `.ts` file as `node [--cpu-prof] --import tsx <entry>`.
   */
  static node(entry: string, options: ChildOptions): BenchChild {
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
    return new BenchChild(options.name, command, args, { ...cleanEnv(), ...options.env });
  }

  /** command starts any executable (a load generator). */
  static command(command: string, args: readonly string[], options: ChildOptions): BenchChild {
    const [cmd, all] = pinned(options.cpus, command, args);
    return new BenchChild(options.name, cmd, all, { ...cleanEnv(), ...options.env });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exited !== undefined;
  }

  /** output is the kept tail of stdout and stderr. */
  output(): string {
    return this.ring.join("").split("\n").slice(-40).join("\n");
  }

  /** rssBytes reads VmRSS of the node process (through taskset's exec the pid is the same); 0 when unreadable. */
  rssBytes(): number {
    if (this.pid === undefined || this.hasExited) return 0;
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"));
      return match ? Number(match[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  /** stop sends `signal`, waits up to `timeoutMs`, then SIGKILL. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<void> {
    if (this.hasExited) return;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      this.child.kill("SIGKILL");
      await this.exit;
    }
  }

  /** waitForExit resolves with the exit code and signal. */
  waitForExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exit;
  }
}

/** cleanEnv is this process's environment without a test runner's variables (NODE_OPTIONS would load its hooks). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("VITEST") || key === "NODE_OPTIONS" || key === "TEST" || key === "NODE_ENV") continue;
    env[key] = value;
  }
  return env;
}

/** sleep for `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * repin moves a running process and all its threads to `cpus` (`taskset -a -p -c`); threads it starts later inherit
 * it. False when taskset is missing or refuses.
 */
export function repin(pid: number | undefined, cpus: string): boolean {
  if (pid === undefined || !HAS_TASKSET) return false;
  return spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" }).status === 0;
}
