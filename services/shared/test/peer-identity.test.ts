/**
 * security/peer-identity.ts: the caller's SPIFFE ID is read once per HTTP/2 connection. These run real grpc-js
 * servers built by the kit (createGrpcServer, with its admission hook) over the mesh's mTLS, so they fail if a
 * grpc-js upgrade moves the fields the walk to the connection relies on, and they check the premise of the cache:
 * a connection's client certificate cannot change after its handshake.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect as tlsConnect, TLSSocket } from "node:tls";
import { readFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Health } from "#gen/grpc/health/v1/health_pb.js";
import { bindServer, createClient, createGrpcServer } from "#shared/grpc/index.js";
import type { AccessControl } from "#shared/security/access-control.js";
import { MeshCertificates } from "#shared/security/certificates.js";
import { type MeshServiceName, serviceId } from "#shared/security/identity.js";
import { http2SessionOf, peerIdentity } from "#shared/security/peer-identity.js";
import { serviceFiles } from "#shared/security/pki-layout.js";
import { ensureMeshPki } from "#shared/security/pki.js";
import { channelCredentials, serverCredentials } from "#shared/security/tls.js";
import { memoryLogger } from "./fixtures/grpc-harness.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shopmesh-peer-identity-"));
  await ensureMeshPki(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Seen is what the kit's admission hook saw of one call. */
interface Seen {
  method: string;
  identity: string | undefined;
  session: object | undefined;
}

/** startServer serves health and reflection (inventory's pair), recording each admitted call's identity and connection. */
async function startServer(): Promise<{ address: string; port: number; seen: Seen[] }> {
  const certs = new MeshCertificates(serviceFiles(dir, "inventory"), { logger: memoryLogger(), refreshMs: 60_000 });
  await certs.ready();
  const seen: Seen[] = [];
  const access: AccessControl = {
    enforced: true,
    admit(call, method) {
      const identity = peerIdentity(call);
      seen.push({ method, identity, session: http2SessionOf(call) });
      return { caller: { identity }, principal: undefined };
    },
  };
  const { server } = createGrpcServer({ services: [], access });
  const port = await bindServer(server, "127.0.0.1:0", serverCredentials(certs));
  cleanups.push(() => {
    server.forceShutdown();
    certs.close();
  });
  return { address: `127.0.0.1:${port}`, port, seen };
}

async function clientAs(name: MeshServiceName, address: string) {
  const certs = new MeshCertificates(serviceFiles(dir, name), { logger: memoryLogger(), refreshMs: 60_000 });
  await certs.ready();
  const client = createClient(Health, address, {
    credentials: channelCredentials(certs, serviceId("inventory")),
    defaultTimeoutMs: 10_000,
  });
  cleanups.push(() => {
    client.close();
    certs.close();
  });
  return client;
}

describe("peerIdentity on a real grpc-js server", () => {
  it("when one connection makes several calls, then the kit's admission finds that connection each time and reads its certificate once", async () => {
    const server = await startServer();
    const client = await clientAs("order", server.address);
    await client.check({ service: "" }); // the connection is up before counting
    const reads = vi.spyOn(TLSSocket.prototype, "getPeerCertificate");

    for (let i = 0; i < 5; i++) await client.check({ service: "" });

    expect(server.seen).toHaveLength(6);
    expect(server.seen.every((s) => s.identity === serviceId("order"))).toBe(true);
    const session = server.seen[0]?.session;
    expect(session).toBeDefined();
    expect(server.seen.every((s) => s.session === session)).toBe(true);
    // The server side read the certificate on the first call, before the spy: none of the five read it again.
    const serverSocket = (session as { socket?: unknown }).socket;
    expect(reads.mock.contexts.filter((socket) => socket === serverSocket)).toEqual([]);
  });

  it("when two callers with different certificates share a server, then each connection keeps its own identity", async () => {
    const server = await startServer();
    const order = await clientAs("order", server.address);
    const payment = await clientAs("payment", server.address);

    await order.check({ service: "" });
    await payment.check({ service: "" });
    await order.check({ service: "" });
    await payment.check({ service: "" });

    expect(server.seen.map((s) => s.identity)).toEqual([
      serviceId("order"),
      serviceId("payment"),
      serviceId("order"),
      serviceId("payment"),
    ]);
    expect(server.seen[0]?.session).not.toBe(server.seen[1]?.session);
  });

  it("when the call is a test double with no grpc-js internals, then the identity is read from its auth context per call", () => {
    const call = { getAuthContext: vi.fn(() => ({ sslPeerCertificate: undefined })) };

    expect(peerIdentity(call)).toBeUndefined();
    expect(peerIdentity(call)).toBeUndefined();
    expect(call.getAuthContext).toHaveBeenCalledTimes(2);
    expect(http2SessionOf(call)).toBeUndefined();
  });
});

describe("the cache's premise: a connection's client certificate is fixed at its handshake", () => {
  const files = () => serviceFiles(dir, "order");

  /** connectTls opens a raw TLS connection as order's certificate, offering HTTP/2 as grpc-js clients do. */
  function connectTls(port: number, maxVersion: "TLSv1.2" | "TLSv1.3"): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port,
        servername: "localhost",
        ca: readFileSync(files().ca),
        cert: readFileSync(files().cert),
        key: readFileSync(files().key),
        ALPNProtocols: ["h2"],
        maxVersion,
      });
      socket.once("secureConnect", () => resolve(socket));
      socket.once("error", reject);
      cleanups.push(() => socket.destroy());
    });
  }

  it("when a mesh client connects, then it negotiates TLS 1.3, which has no renegotiation", async () => {
    const server = await startServer();

    const socket = await connectTls(server.port, "TLSv1.3");

    expect(socket.getProtocol()).toBe("TLSv1.3");
    expect(socket.alpnProtocol).toBe("h2");
  });

  it("when a TLS 1.2 client tries to renegotiate on a gRPC connection, then the connection ends; one that does not stays up", async () => {
    const server = await startServer();
    const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const steady = await connectTls(server.port, "TLSv1.2");
    const renegotiating = await connectTls(server.port, "TLSv1.2");
    expect(renegotiating.getProtocol()).toBe("TLSv1.2");
    const errors: string[] = [];
    renegotiating.on("error", (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
    const closed = new Promise<void>((resolve) => renegotiating.once("close", () => resolve()));

    steady.write(PREFACE);
    renegotiating.renegotiate({ rejectUnauthorized: true }, () => undefined);
    renegotiating.write(PREFACE); // the HTTP/2 preface drives the new handshake's records

    // Node's HTTP/2 server disables renegotiation on every socket it accepts: the connection is over, not re-keyed
    // with another certificate.
    await closed;
    expect(errors).not.toEqual([]);
    expect(steady.destroyed).toBe(false);
  });
});
