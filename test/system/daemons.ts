/**
 * Helpers for the tests of the broker and sink scripts (scripts/*.sh on scripts/lib/daemon.sh): run a script with its
 * environment, see which addresses a port listens on, and find the processes a script may have left behind.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../../scripts/mesh/child.js";

const run = promisify(execFile);

/** script runs `bash scripts/<name> <command>` with `env` added; a non-zero exit is returned, not thrown. */
export async function script(
  name: string,
  command: "start" | "stop" | "status",
  env: Record<string, string>,
  timeoutMs = 180_000,
): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run("bash", [path.join(ROOT, "scripts", name), command], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: timeoutMs, // the scripts bound their own waits; this only catches a script that hangs anyway
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : 1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

/**
 * listeningAddresses reads the kernel's socket tables for sockets listening on `port` and returns their local
 * addresses as hex, as /proc/net/tcp{,6} write them (127.0.0.1 is 0100007F; ::1 is 00000000000000000000000001000000;
 * in tcp6, ::ffff:127.0.0.1 ends in 0100007F).
 */
export function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const out: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [address, localPort] = (fields[1] ?? "").split(":");
      if (localPort === hexPort && fields[3] === "0A") out.push(address!);
    }
  }
  return out;
}

/** isLoopback tells whether a hex address from {@link listeningAddresses} is 127.0.0.1, ::ffff:127.0.0.1 or ::1. */
export function isLoopback(hexAddress: string): boolean {
  return hexAddress.endsWith("0100007F") || hexAddress === "00000000000000000000000001000000";
}

/**
 * processesMentioning lists the live processes whose command line or environment contains `text` (as "pid: command
 * line"), the test's own process and its parents aside: what a script may have left behind.
 */
export function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid || Number(entry) === process.ppid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      if (cmdline === "") continue; // a zombie or a kernel thread
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8");
      if (cmdline.includes(text) || environ.split("\0").some((variable) => variable.includes(text))) found.push(`${entry}: ${cmdline}`);
    } catch {
      // gone between the listing and the read, or not ours to read
    }
  }
  return found;
}

/** pidAlive tells whether a process with this pid exists (and is not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
