/**
 * Child processes for system tests: a service started exactly as in production (`node --import tsx
 * services/<name>/src/main.ts`), its output captured to memory and to a log file, and a grpc.health.v1 probe.
 */
import type { ServiceError } from "@grpc/grpc-js";
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { checkHealth, createHealthClient } from "../../services/shared/src/grpc/health-client.js";
import { sleep } from "./wait.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** ServiceProcess is one running (or exited) service child process with its captured output. */
export class ServiceProcess {
  private readonly lines: string[] = [];
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly child: ChildProcess;

  constructor(
    readonly name: string,
    entry: string,
    env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {
    const tsx = path.join(ROOT, "node_modules", "tsx");
    if (!existsSync(tsx)) throw new Error(`tsx is not installed (${tsx}); run npm ci`);
    this.child = spawn(process.execPath, ["--import", "tsx", entry], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const capture = (stream: NodeJS.ReadableStream | null, tag: string) => {
      let rest = "";
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const line of parts) this.record(tag, line);
      });
      stream?.on("end", () => rest && this.record(tag, rest));
    };
    capture(this.child.stdout, "out");
    capture(this.child.stderr, "err");
    this.exit = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exited = { code, signal };
        this.record("---", `process exited (code ${code}, signal ${signal})`);
        resolve(this.exited);
      });
      this.child.once("error", (error) => {
        this.exited = { code: null, signal: null };
        this.record("---", `spawn failed: ${error.message}`);
        resolve(this.exited);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** hasExited tells whether the process is gone. */
  get hasExited(): boolean {
    return this.exited !== undefined;
  }

  /** tail returns the last `n` captured lines, for failure messages. */
  tail(n = 40): string {
    return this.lines.slice(-n).join("\n");
  }

  /** output returns every captured line (stdout and stderr, tagged). */
  output(): string[] {
    return [...this.lines];
  }

  /** signal sends a signal (if still running) and waits up to `timeoutMs` for the exit; SIGKILL after that. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) this.child.kill(signal);
    const timer = sleep(timeoutMs).then(() => "timeout" as const);
    const result = await Promise.race([this.exit, timer]);
    if (result === "timeout") {
      this.record("---", `no exit ${timeoutMs} ms after ${signal}; sending SIGKILL`);
      this.child.kill("SIGKILL");
      return this.exit;
    }
    return result;
  }

  /** exited resolves when the process exits. */
  waitForExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exit;
  }

  private record(tag: string, line: string): void {
    const text = `[${this.name} ${tag}] ${line}`;
    this.lines.push(text);
    if (this.lines.length > 5_000) this.lines.splice(0, 1_000);
    appendFileSync(this.logFile, `${text}\n`);
  }
}

/**
 * waitForServing polls health until SERVING, failing early when the process exits and after `timeoutMs` otherwise,
 * with the process's last output lines in the error.
 */
export async function waitForServing(proc: ServiceProcess, address: string, timeoutMs: number): Promise<void> {
  const client = createHealthClient(address);
  const deadline = Date.now() + timeoutMs;
  let last = "not asked yet";
  try {
    for (;;) {
      if (proc.hasExited) {
        throw new Error(`${proc.name} exited before it was SERVING on ${address}. Its last output:\n${proc.tail()}`);
      }
      try {
        last = await checkHealth(address, { client });
        if (last === "SERVING") return;
      } catch (error) {
        last = (error as ServiceError).details ?? String(error);
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `${proc.name} was not SERVING on ${address} within ${timeoutMs} ms (last health answer: ${last}). ` +
            `Its last output (full log: ${proc.logFile}):\n${proc.tail()}`,
        );
      }
      await sleep(200);
    }
  } finally {
    client.close();
  }
}
