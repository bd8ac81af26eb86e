/**
 * GatewayMesh is a real mesh (test/system/mesh.ts: the three services as processes against the suite's broker) plus
 * the gateway started in-process on a free port in front of it. One per test file (starting one takes seconds).
 */
import { pino, type Logger } from "pino";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { ensureMeshPki } from "#shared/security/pki.js";
import { ADMIN_SCOPE } from "#shared/security/principal.js";
import { ALL_WRITE_SCOPES, signToken } from "../../src/auth.js";
import { startGateway, type Gateway } from "../../src/app.js";
import { loadConfig, type GatewayConfig } from "../../src/config.js";
import { Mesh, type MeshOptions } from "../../../test/system/mesh.js";

/** GatewayMeshOptions tune a GatewayMesh. */
export interface GatewayMeshOptions {
  /** env adds or overrides the gateway's environment (e.g. BODY_LIMIT_BYTES, CORS_ORIGINS). */
  readonly env?: Record<string, string>;
  readonly mesh?: MeshOptions;
  /** withoutMesh starts only the gateway, its backends pointing at closed ports (CORS, limits, auth rejections). */
  readonly withoutMesh?: boolean;
}

/**
 * TokenOptions describe a dev token to mint. The defaults are an operator's: subject "test", every write scope and
 * the admin scope (every customer's orders, payments), one hour. A test acting as a customer names the subject and
 * the scopes (`{ subject: "alice", scopes: ["orders:write"] }`).
 */
export interface TokenOptions {
  subject?: string;
  scopes?: readonly string[];
  ttlSeconds?: number;
}

/** GatewayMesh is a running mesh + gateway; see the file comment. */
export interface GatewayMesh {
  /** mesh is undefined with `withoutMesh`. */
  readonly mesh: Mesh | undefined;
  readonly gateway: Gateway;
  /** baseUrl is `http://127.0.0.1:<port>`. */
  readonly baseUrl: string;
  readonly port: number;
  readonly config: Readonly<GatewayConfig>;
  /** logs are the gateway's JSON log lines so far, parsed. */
  logs(): Record<string, unknown>[];
  /** token mints a JWT the gateway accepts. */
  token(options?: TokenOptions): Promise<string>;
  stop(): Promise<void>;
}

/** startGatewayMesh starts the mesh (unless `withoutMesh`) and the gateway in front of it. */
export async function startGatewayMesh(options: GatewayMeshOptions = {}): Promise<GatewayMesh> {
  const mesh = options.withoutMesh ? undefined : await Mesh.start(options.mesh);
  const closed = "127.0.0.1:1"; // nothing listens on port 1: calls fail UNAVAILABLE
  // The gateway dials the services with mTLS from the mesh's own CA; alone, it gets a CA of its own.
  const ownPki = mesh?.pkiDir ? undefined : mkdtempSync(path.join(tmpdir(), "gateway-pki-"));
  if (ownPki) await ensureMeshPki(ownPki);
  const config = loadConfig({
    PKI_DIR: mesh?.pkiDir ?? ownPki ?? "",
    HOST: "127.0.0.1",
    PORT: "0",
    METRICS_PORT: "0",
    ORDER_ADDR: mesh?.address("order") ?? closed,
    PAYMENT_ADDR: mesh?.address("payment") ?? closed,
    INVENTORY_ADDR: mesh?.address("inventory") ?? closed,
    NOTIFICATION_ADDR: mesh?.address("notification") ?? closed,
    KAFKA_BROKERS: mesh?.brokers ?? process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092",
    KAFKA_GROUP_IDS: mesh ? Object.values(mesh.groupIds).join(",") : "shopmesh-order",
    ...options.env,
  });
  const { logger, lines } = captureLogger();
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, { logger });
  } catch (err) {
    await mesh?.stop();
    throw err;
  }
  return {
    mesh,
    gateway,
    baseUrl: gateway.url,
    port: gateway.port,
    config,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    token: (t = {}) =>
      signToken(config.jwt, {
        subject: t.subject ?? "test",
        scopes: t.scopes ?? [...ALL_WRITE_SCOPES, ADMIN_SCOPE],
        ttlSeconds: t.ttlSeconds ?? 3600,
      }),
    async stop() {
      await gateway.stop(1_000);
      await mesh?.stop();
      if (ownPki) rmSync(ownPki, { recursive: true, force: true });
    },
  };
}

/** captureLogger is a JSON pino logger whose lines the test can read (and print with GATEWAY_TEST_LOGS=1). */
function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split("\n")) {
        if (line.trim() === "") continue;
        lines.push(line);
        if (process.env["GATEWAY_TEST_LOGS"] === "1") console.log(line);
      }
      callback();
    },
  });
  const logger = pino({ level: "debug", base: { service: "gateway" } }, sink);
  return { logger, lines };
}
