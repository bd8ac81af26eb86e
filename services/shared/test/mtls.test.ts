/**
 * mTLS between grpc-js peers built from the kit's parts (createGrpcServer, bindServer, createClient) with the mesh's
 * certificates (security/tls.ts): who gets in, what the server logs about who did not, the client's check of the
 * server's identity, rotation without a restart, and the real grpcurl with only -cacert/-cert/-key.
 */
import { ServerInterceptingCall, credentials, status, type Server, type ServerInterceptor } from "@grpc/grpc-js";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../../scripts/mesh/child.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { Health } from "#gen/grpc/health/v1/health_pb.js";
import { bindServer, createClient, createGrpcServer, type ServiceClient } from "#shared/grpc/index.js";
import { MeshCertificates } from "#shared/security/certificates.js";
import { type MeshServiceName, serviceId, spiffeIdOf } from "#shared/security/identity.js";
import { serviceFiles, type PkiFiles } from "#shared/security/pki-layout.js";
import { ensureMeshPki, issueOperator, rotate } from "#shared/security/pki.js";
import { channelCredentials, logTlsRejections, serverCredentials } from "#shared/security/tls.js";
import { memoryLogger, rejection, until, type LogLine } from "./fixtures/grpc-harness.js";

const GRPCURL = path.join(ROOT, ".tools", "bin", "grpcurl");
const HOUR_MS = 3_600_000;

let dir: string;
let otherDir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shopmesh-mtls-"));
  otherDir = await mkdtemp(path.join(tmpdir(), "shopmesh-mtls-other-"));
  await Promise.all([ensureMeshPki(dir), ensureMeshPki(otherDir)]);
});
afterAll(async () => {
  await Promise.all([rm(dir, { recursive: true, force: true }), rm(otherDir, { recursive: true, force: true })]);
});

/** warnings are every process warning raised while this file's clients dial servers on 127.0.0.1. */
const warnings: string[] = [];
process.on("warning", (warning: Error & { code?: string }) => warnings.push(`${warning.code ?? warning.name}: ${warning.message}`));

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Peer is what the server saw of one call's caller. */
interface Peer {
  id: string | undefined;
  serial: string | undefined;
}

/** MtlsServer is a real grpc-js server (health + reflection) on 127.0.0.1 with mTLS, recording who called. */
interface MtlsServer {
  address: string;
  port: number;
  callers: Peer[];
  logger: ReturnType<typeof memoryLogger>;
  rejections(): LogLine[];
}

async function startServer(
  name: MeshServiceName,
  serverOptions: Record<string, number> = {},
  rejectionWindowMs?: number,
): Promise<MtlsServer> {
  const logger = memoryLogger();
  const certs = new MeshCertificates(serviceFiles(dir, name), { logger, refreshMs: 100 });
  const callers: Peer[] = [];
  const recordCaller: ServerInterceptor = (_method, call) => {
    const cert = call.getAuthContext().sslPeerCertificate;
    callers.push({ id: spiffeIdOf(cert), serial: cert?.serialNumber });
    return new ServerInterceptingCall(call);
  };
  const { server } = createGrpcServer({ services: [], serverOptions: { ...serverOptions, interceptors: [recordCaller] } });
  await certs.ready();
  const port = await bindServer(server, "127.0.0.1:0", serverCredentials(certs));
  logTlsRejections(server, logger, rejectionWindowMs === undefined ? {} : { windowMs: rejectionWindowMs });
  cleanups.push(() => {
    server.forceShutdown();
    certs.close();
  });
  const rejections = () => logger.lines.filter((l) => l.level === "warn" && l.message?.startsWith("TLS handshake rejected"));
  return { address: `127.0.0.1:${port}`, port, callers, logger, rejections };
}

async function meshClient(files: PkiFiles, address: string, expectedServerId: string): Promise<ServiceClient<typeof Health>> {
  const certs = new MeshCertificates(files, { logger: memoryLogger(), refreshMs: 100 });
  await certs.ready();
  const client = createClient(Health, address, { credentials: channelCredentials(certs, expectedServerId), defaultTimeoutMs: 10_000 });
  cleanups.push(() => {
    client.close();
    certs.close();
  });
  return client;
}

async function serialOf(file: string): Promise<string> {
  return new X509Certificate(await readFile(file)).serialNumber;
}

async function firstRejection(server: MtlsServer): Promise<LogLine> {
  await until("a TLS rejection line", () => server.rejections().length > 0, 10_000);
  return server.rejections()[0] as LogLine;
}

describe("mTLS: who gets in", () => {
  it("when a service calls with its own certificate, then the call succeeds and the server sees its SPIFFE ID", async () => {
    const server = await startServer("inventory");
    const client = await meshClient(serviceFiles(dir, "order"), server.address, serviceId("inventory"));

    const reply = await client.check({ service: "" });

    expect(reply.status).toBe(1); // SERVING
    expect(server.callers).toEqual([{ id: serviceId("order"), serial: await serialOf(serviceFiles(dir, "order").cert) }]);
    expect(server.rejections()).toEqual([]);
  });

  it("when a client presents no certificate, then the call fails UNAVAILABLE and the server logs the peer and 'no client certificate'", async () => {
    const server = await startServer("inventory");
    const ca = await readFile(serviceFiles(dir, "order").ca);
    const client = createClient(Health, server.address, { credentials: credentials.createSsl(ca) });
    cleanups.push(() => client.close());

    const err = await rejection(client.check({ service: "" }));

    expect(err.code).toBe(status.UNAVAILABLE);
    const line = await firstRejection(server);
    expect(line.fields).toMatchObject({ reason: "no client certificate", peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(server.callers).toEqual([]);
  });

  it("when a client's certificate comes from another CA, then the call fails UNAVAILABLE and the server logs 'unknown CA'", async () => {
    const server = await startServer("inventory");
    const stranger = await issueOperator(dir, "stranger", "admin", { issuerDir: otherDir });
    const client = await meshClient(stranger.files, server.address, serviceId("inventory"));

    const err = await rejection(client.check({ service: "" }));

    expect(err.code).toBe(status.UNAVAILABLE);
    const line = await firstRejection(server);
    expect(line.fields).toMatchObject({
      reason: "client certificate not issued by the mesh CA (unknown CA)",
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(line.message).toMatch(/^TLS handshake rejected from 127\.0\.0\.1:\d+: client certificate not issued by the mesh CA/);
    expect(server.callers).toEqual([]);
  });

  it("when a client's certificate has expired, then the call fails UNAVAILABLE and the server logs 'expired'", async () => {
    const server = await startServer("inventory");
    const late = await issueOperator(dir, "late", "admin", {
      notBefore: new Date(Date.now() - 48 * HOUR_MS),
      notAfter: new Date(Date.now() - HOUR_MS),
    });
    const client = await meshClient(late.files, server.address, serviceId("inventory"));

    const err = await rejection(client.check({ service: "" }));

    expect(err.code).toBe(status.UNAVAILABLE);
    const line = await firstRejection(server);
    expect(line.fields).toMatchObject({
      reason: "client certificate expired",
      code: "CERT_HAS_EXPIRED",
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(server.callers).toEqual([]);
  });

  it("when a client speaks plaintext, then the call fails UNAVAILABLE and the server logs a plaintext client (a TLS 'wrong version number')", async () => {
    const server = await startServer("inventory");
    const client = createClient(Health, server.address);
    cleanups.push(() => client.close());

    const err = await rejection(client.check({ service: "" }));

    expect(err.code).toBe(status.UNAVAILABLE);
    const line = await firstRejection(server);
    expect(line.fields).toMatchObject({
      reason: "plaintext client (not TLS)",
      code: "ERR_SSL_WRONG_VERSION_NUMBER",
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(server.callers).toEqual([]);
  });

  it("when a host's handshakes keep being rejected, then one line per window names the first peer, and the next line counts the ones left out", async () => {
    const server = await startServer("inventory", {}, 1_000);
    const ca = await readFile(serviceFiles(dir, "order").ca);
    const handshake = () =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: "127.0.0.1", port: server.port, ca, servername: "localhost", ALPNProtocols: ["h2"] });
        socket.once("connect", () => resolve(`127.0.0.1:${socket.localPort}`));
        socket.on("error", () => {}); // the server's "certificate required" alert
      });

    const first = await handshake();
    await until("the first rejection line", () => server.rejections().length >= 1, 10_000);
    await handshake();
    await handshake();
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the window ends
    const later = await handshake();

    await until("a second rejection line", () => server.rejections().length >= 2, 10_000);
    const lines = server.rejections();
    expect(lines).toHaveLength(2);
    expect(lines[0]?.fields).toEqual(expect.objectContaining({ peer: first, reason: "no client certificate" }));
    expect(lines[0]?.fields).not.toHaveProperty("suppressed");
    expect(lines[1]?.fields).toEqual(expect.objectContaining({ peer: later, reason: "no client certificate", suppressed: 2 }));
    expect(lines[1]?.message).toMatch(/\(and 2 more like it from that host since the last line\)$/);
  });
});

describe("logTlsRejections", () => {
  it("when the server is not bound yet, then it throws saying to call it after bindServer", () => {
    const { server } = createGrpcServer({ services: [] });
    expect(() => logTlsRejections(server, memoryLogger())).toThrow("logTlsRejections needs a bound server: call it after bindServer");
  });

  it("when grpc-js no longer keeps its HTTP/2 servers where expected, then it throws at start instead of going quiet", () => {
    const moved = { http2Servers: new Set() } as unknown as Server;
    expect(() => logTlsRejections(moved, memoryLogger())).toThrow(/grpc-js no longer exposes its HTTP\/2 servers \(Server.http2Servers\)/);
    const reshaped = { http2Servers: new Map([[{ port: 1 }, {}]]) } as unknown as Server;
    expect(() => logTlsRejections(reshaped, memoryLogger())).toThrow(/no longer maps HTTP\/2 servers/);
  });
});

describe("mTLS: the client checks the server's identity", () => {
  it("when the server's SPIFFE ID is not the expected one, then the client refuses it with an error naming both IDs", async () => {
    const server = await startServer("payment");
    const client = await meshClient(serviceFiles(dir, "order"), server.address, serviceId("inventory"));

    const err = await rejection(client.check({ service: "" }));

    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toContain(
      "server identity mismatch: expected spiffe://shopmesh.local/service/inventory, the server presented spiffe://shopmesh.local/service/payment",
    );
    expect(server.callers).toEqual([]);
  });
});

describe("mTLS: rotation without a restart", () => {
  it("when the certificates rotate, then a new connection presents the new certificate and calls keep succeeding across it", async () => {
    // Connections older than 300 ms are closed gracefully (GOAWAY), so the same client soon reconnects.
    const server = await startServer("inventory", { "grpc.max_connection_age_ms": 300, "grpc.max_connection_age_grace_ms": 5_000 });
    const client = await meshClient(serviceFiles(dir, "order"), server.address, serviceId("inventory"));
    const oldSerial = await serialOf(serviceFiles(dir, "order").cert);
    await client.check({ service: "" });
    expect(server.callers.at(-1)?.serial).toBe(oldSerial);

    await rotate(dir);
    const newSerial = await serialOf(serviceFiles(dir, "order").cert);
    const failures: unknown[] = [];
    let calls = 0;
    await waitUntil(
      async () => {
        calls++;
        await client.check({ service: "" }).catch((err: unknown) => failures.push(err));
        return server.callers.at(-1)?.serial === newSerial;
      },
      { message: "a call made over a connection with the new certificate", intervalMs: 10 },
    );

    expect(newSerial).not.toBe(oldSerial);
    expect(failures).toEqual([]);
    expect(server.callers).toHaveLength(calls + 1);
    expect(server.callers.every((c) => c.id === serviceId("order"))).toBe(true);
  });
});

describe("grpcurl with the mesh's certificates", () => {
  it("when grpcurl has only -cacert, -cert and -key, then it verifies the server on 127.0.0.1 and its call goes through", async () => {
    if (!existsSync(GRPCURL))
      throw new Error(`${path.relative(ROOT, GRPCURL)} is missing: run \`npm run tools\` (needs Go) to install grpcurl`);
    const server = await startServer("order");
    const operator = await issueOperator(dir, "alice", "reader");
    const { ca, cert, key } = operator.files;

    const { stdout } = await promisify(execFile)(
      GRPCURL,
      ["-cacert", ca, "-cert", cert, "-key", key, server.address, "grpc.health.v1.Health/Check"],
      {
        timeout: 30_000,
      },
    );

    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
    // grpcurl asks reflection for the method first, then calls it: two calls, both as alice.
    expect(server.callers.length).toBeGreaterThan(0);
    expect(server.callers.every((c) => c.id === operator.id && c.serial === operator.serialNumber)).toBe(true);
  });
});

describe("the TLS server name", () => {
  // Last in the file: Node raises a deprecation warning once per process, so every client above had its chance.
  it("when mesh clients dial a server by IP address, then no IP goes into SNI (Node's DEP0123, RFC 6066)", () => {
    expect(warnings.filter((w) => w.startsWith("DEP0123"))).toEqual([]);
  });
});
