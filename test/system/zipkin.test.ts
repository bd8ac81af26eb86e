/**
 * scripts/zipkin.sh against the real Zipkin server (Maven Central's exec jar on Java 17): start on a free port, take one
 * span in through the collector API, read it back through the query API, see it listen on loopback only, stop.
 * Without Java or Maven this fails and says which is missing: the script is the project's trace viewer, not optional.
 */
import { execFile, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/mesh/child.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

const run = promisify(execFile);
const SCRIPT = path.join(ROOT, "scripts", "zipkin.sh");

/** zipkin runs `bash scripts/zipkin.sh <command>` on `port`; a non-zero exit is returned, not thrown. */
async function zipkin(command: "start" | "stop" | "status", port: number): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run("bash", [SCRIPT, command], {
      cwd: ROOT,
      env: { ...process.env, ZIPKIN_PORT: String(port) },
      timeout: 300_000, // the first start downloads about 130 MB; the script bounds its own waits after that
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : 1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

function hasCommand(command: string): boolean {
  return spawnSync("bash", ["-c", `command -v ${command}`]).status === 0;
}

/**
 * listeningAddresses reads the kernel's socket tables for sockets listening on `port` and returns their local
 * addresses as hex, as /proc/net/tcp{,6} write them (127.0.0.1 is 0100007F; in tcp6, ::ffff:127.0.0.1 ends in it).
 */
function listeningAddresses(port: number): string[] {
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

let startedPort: number | undefined;
afterAll(async () => {
  // A failed assertion must not leave a JVM behind.
  if (startedPort !== undefined) await zipkin("stop", startedPort);
});

describe("scripts/zipkin.sh", () => {
  it("starts Zipkin on loopback, collects a span, serves it back as a trace, and stops", { timeout: 400_000 }, async () => {
    expect(hasCommand("java"), "java not found: scripts/zipkin.sh needs a JDK 17+ (apt-get install openjdk-17-jre-headless)").toBe(true);
    expect(hasCommand("mvn"), "mvn not found: scripts/zipkin.sh fetches Zipkin with Maven 3.8+ (apt-get install maven)").toBe(true);

    const port = await freePort();
    startedPort = port;
    const started = await zipkin("start", port);
    expect(started.code, started.output).toBe(0);
    expect((await zipkin("status", port)).output).toContain("started by zipkin.sh");

    // Loopback only: every listening socket on the port is 127.0.0.1 (or its IPv4-mapped IPv6 form), none 0.0.0.0 or ::.
    const addresses = listeningAddresses(port);
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses) expect(address.endsWith("0100007F"), `listening on ${address}`).toBe(true);

    const base = `http://127.0.0.1:${port}`;
    const traceId = crypto.randomUUID().replaceAll("-", "");
    const span = {
      traceId,
      id: traceId.slice(0, 16),
      name: "get /zipkin-script-test",
      kind: "SERVER",
      timestamp: Date.now() * 1000,
      duration: 1500,
      localEndpoint: { serviceName: "zipkin-script-test" },
      tags: { "test.run": traceId },
    };
    const posted = await fetch(`${base}/api/v2/spans`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([span]),
    });
    expect(posted.status).toBe(202);

    // The collector stores asynchronously: poll the query API until the trace is there.
    const traces = await waitUntil(
      async () => {
        const res = await fetch(`${base}/api/v2/traces?serviceName=zipkin-script-test&lookback=3600000&limit=10`);
        const body = (await res.json()) as { traceId: string; id: string; name: string; tags?: Record<string, string> }[][];
        return body.some((trace) => trace.some((s) => s.traceId === traceId)) ? body : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, message: `trace ${traceId} in /api/v2/traces` },
    );
    const stored = traces.flat().find((s) => s.traceId === traceId);
    expect(stored).toMatchObject({ id: span.id, name: span.name, tags: { "test.run": traceId } });

    const stopped = await zipkin("stop", port);
    expect(stopped.code, stopped.output).toBe(0);
    startedPort = undefined;
    expect((await zipkin("status", port)).code).toBe(3);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });
});
