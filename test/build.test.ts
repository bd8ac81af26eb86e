/**
 * scripts/build.ts: the bundles production runs (`node --enable-source-maps dist/<name>/main.js`) are written for
 * every process, and a built service really starts from its bundle, serves grpc.health.v1 and stops cleanly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, ENTRIES, ROOT, type BuildResult, type ProcessName } from "../scripts/build.js";
import { checkHealth } from "../services/shared/src/grpc/health-client.js";

// Inside the repository (git-ignored .cache/): the bundles load node_modules and "type": "module" from above them.
mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
const outdir = mkdtempSync(path.join(ROOT, ".cache", "build-test-"));
let result: BuildResult;

beforeAll(async () => {
  result = await build({ outdir });
});

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

describe("npm run build", () => {
  it("when the build runs, then every process has an ESM bundle with its source map", () => {
    for (const name of Object.keys(ENTRIES) as ProcessName[]) {
      const bundle = path.join(outdir, name, "main.js");
      expect(result.bundles[name]).toBe(bundle);
      expect(existsSync(bundle), bundle).toBe(true);
      expect(existsSync(`${bundle}.map`), `${bundle}.map`).toBe(true);
    }
  });

  it("when the output directory lies outside the repository, then the build refuses and says why", async () => {
    await expect(build({ outdir: path.join(tmpdir(), "shopmesh-dist") })).rejects.toThrow(/must be a directory inside/);
  });

  it("when inventory starts from its bundle, then it serves grpc.health.v1 SERVING and exits 0 on SIGTERM", async () => {
    const brokers = process.env["KAFKA_BROKERS"];
    if (!brokers) throw new Error("KAFKA_BROKERS is not set (test/global-setup.ts provides it)");
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), "shopmesh-build-test-"));
    const child = spawn(process.execPath, ["--enable-source-maps", result.bundles.inventory!], {
      cwd: ROOT,
      env: {
        ...withoutTestRunner(process.env),
        HOST: "127.0.0.1",
        PORT: String(port),
        DATA_DIR: dataDir,
        KAFKA_BROKERS: brokers,
        KAFKA_GROUP_ID: `build-test-${crypto.randomUUID()}`,
        KAFKA_FROM_BEGINNING: "false",
        LOG_FORMAT: "json",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    try {
      const status = await waitForServing(child, `127.0.0.1:${port}`, 60_000, output);
      expect(status).toBe("SERVING");
      child.kill("SIGTERM");
      const exit = await Promise.race([exited, timeout(20_000, "inventory did not exit within 20 s of SIGTERM")]);
      expect(exit, output.join("")).toEqual({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

async function waitForServing(child: ChildProcess, address: string, timeoutMs: number, output: string[]): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`inventory exited during start-up:\n${output.join("")}`);
    last = await checkHealth(address).catch((error: unknown) => String(error));
    if (last === "SERVING") return last;
    if (Date.now() > deadline) throw new Error(`inventory not SERVING on ${address} after ${timeoutMs} ms (${last}):\n${output.join("")}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** withoutTestRunner drops the runner's variables: NODE_OPTIONS would load vitest's hooks into the service. */
function withoutTestRunner(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([key]) => !key.startsWith("VITEST") && !["NODE_OPTIONS", "TEST", "NODE_ENV"].includes(key)),
  );
}

function timeout(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
