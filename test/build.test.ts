/**
 * scripts/build.ts: the bundles production runs (`node --enable-source-maps dist/<name>/main.js`) are written for
 * every process, and a built service really starts from its bundle, serves grpc.health.v1 and stops cleanly.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { build, ENTRIES, ROOT, type BuildResult, type ProcessName } from "../scripts/build.js";
import { MeshChild } from "../scripts/mesh/child.js";
import { freePort } from "../scripts/mesh/free-port.js";
import { waitForServing } from "../scripts/mesh/mesh.js";
import { operatorCredentials } from "#shared/security/operator-credentials.js";
import { ensureMeshPki } from "#shared/security/pki.js";

// Inside the repository (git-ignored dist/): the bundles load node_modules and "type": "module" from above them. Not
// .cache/, which a git worktree may link to another checkout's: Node resolves the link, and the bundles would then load
// that checkout's node_modules (without a package this branch added).
mkdirSync(path.join(ROOT, "dist"), { recursive: true });
const outdir = mkdtempSync(path.join(ROOT, "dist", "build-test-"));
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

  it.each([
    { name: "inventory" as const, env: () => ({ KAFKA_GROUP_ID: `build-test-${crypto.randomUUID()}`, KAFKA_FROM_BEGINNING: "false" }) },
    // notification bundles nodemailer and rabbitmq-client, and is SERVING only once it consumes its command queue.
    {
      name: "notification" as const,
      env: () => ({ COMMAND_BUS: "rabbitmq", RABBITMQ_URL: inject("rabbitmqUrl"), SMTP_URL: inject("smtpUrl") }),
    },
  ])("when $name starts from its bundle, then it serves grpc.health.v1 SERVING and exits 0 on SIGTERM", async ({ name, env }) => {
    const brokers = process.env["KAFKA_BROKERS"];
    if (!brokers) throw new Error("KAFKA_BROKERS is not set (test/global-setup.ts provides it)");
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), "shopmesh-build-test-"));
    // The bundle serves mTLS as production does: a CA of the test's own, and the health check as an operator.
    const pkiDir = path.join(dataDir, "pki");
    await ensureMeshPki(pkiDir);
    const operator = await operatorCredentials(pkiDir, "build-test", "reader");
    const child = MeshChild.node(result.bundles[name]!, {
      name,
      env: {
        HOST: "127.0.0.1",
        PORT: String(port),
        METRICS_PORT: "0",
        DATA_DIR: dataDir,
        KAFKA_BROKERS: brokers,
        LOG_FORMAT: "json",
        PKI_DIR: pkiDir,
        ...env(),
      },
    });
    try {
      await waitForServing(child, `127.0.0.1:${port}`, 60_000, undefined, operator.for(name));
      // A process still running 20 s after SIGTERM is killed, and then its exit reads signal SIGKILL.
      const exit = await child.stop("SIGTERM", 20_000);
      expect(exit, child.tail()).toEqual({ code: 0, signal: null });
    } finally {
      await child.stop("SIGKILL");
      operator.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
