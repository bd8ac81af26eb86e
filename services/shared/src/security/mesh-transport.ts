import { ChannelCredentials, ServerCredentials, type Server } from "@grpc/grpc-js";
import type { SecureClientSessionOptions } from "node:http2";
import path from "node:path";
import type { MeshSecurity } from "../config.js";
import type { Logger } from "../logger.js";
import { accessControl, type AccessControl } from "./access-control.js";
import { AccessPolicy } from "./access-policy.js";
import { MeshCertificates, type CertificateSet } from "./certificates.js";
import { serviceId, type MeshServiceName } from "./identity.js";
import { serviceFiles } from "./pki-layout.js";
import { channelCredentials, checkServerId, logTlsRejections, serverCredentials } from "./tls.js";

/** INSECURE_WARNING is what a process says at start under MESH_INSECURE=1. */
export const INSECURE_WARNING =
  "MESH_INSECURE=1: plaintext gRPC, no identities between services, the access policy is not enforced and any caller may assert an end user";

/** CERTIFICATES_READY_MS bounds the wait for a process's certificates at start (they are written by npm run certs). */
const CERTIFICATES_READY_MS = 10_000;

/**
 * MeshTransport is how one process of the mesh talks to the others: the credentials its gRPC server binds with,
 * the credentials for each peer it calls, and the admission of every call it serves. Built once at start-up, from
 * MeshSecurity (config.ts): mutual TLS with the mesh's CA and the access policy, or plaintext under MESH_INSECURE=1.
 */
export interface MeshTransport {
  readonly mode: MeshSecurity["mode"];
  readonly serverCredentials: ServerCredentials;
  /** channelCredentials are for calling `peer`: with mTLS, a server whose certificate is not `peer`'s is refused. */
  channelCredentials(peer: MeshServiceName): ChannelCredentials;
  readonly access: AccessControl;
  /**
   * tlsOptions are TLS client options for a client that is not grpc-js (the gateway's Node HTTP/2 sessions, kafkajs):
   * this process's pair and the CA, accepting the server only if it presents `expectedId`; undefined under
   * MESH_INSECURE=1. The object is updated in place when the certificates rotate: those clients read it at each new
   * connection, so the next one presents the new pair. One certificate watcher serves these and the gRPC side.
   */
  tlsOptions(expectedId: string): SecureClientSessionOptions | undefined;
  /** http2Options are {@link tlsOptions} for calling mesh service `peer` over HTTP/2 (the gateway's Connect transport). */
  http2Options(peer: MeshServiceName): SecureClientSessionOptions | undefined;
  /** bound is called once the server listens (mTLS: rejected handshakes get logged). */
  bound(server: Server): void;
  close(): void;
}

/** openMeshTransport builds the transport of the process named `self` (its certificate is `services/<self>.crt`). */
export async function openMeshTransport(self: string, security: MeshSecurity, logger: Logger): Promise<MeshTransport> {
  if (security.mode === "insecure") {
    logger.warn({ self }, INSECURE_WARNING);
    return {
      mode: "insecure",
      serverCredentials: ServerCredentials.createInsecure(),
      channelCredentials: () => ChannelCredentials.createInsecure(),
      tlsOptions: () => undefined,
      http2Options: () => undefined,
      access: accessControl(undefined),
      bound: () => undefined,
      close: () => undefined,
    };
  }
  const policy = AccessPolicy.load(security.policyFile);
  const certs = new MeshCertificates(serviceFiles(path.resolve(security.pkiDir), self as MeshServiceName), {
    logger,
    refreshMs: security.refreshMs,
  });
  try {
    await certs.ready(CERTIFICATES_READY_MS);
  } catch (error) {
    certs.close();
    throw new Error(`${(error as Error).message} (create them with: npm run certs, PKI_DIR=${security.pkiDir})`);
  }
  const live: SecureClientSessionOptions[] = [];
  const stopWatching = certs.onChange((set) => {
    for (const options of live) Object.assign(options, tlsOf(set));
  });
  const tlsOptions = (expectedId: string): SecureClientSessionOptions => {
    const options: SecureClientSessionOptions = {
      ...tlsOf(certs.current()),
      checkServerIdentity: (_host, cert) => checkServerId(cert, expectedId),
    };
    live.push(options);
    return options;
  };
  return {
    mode: "mtls",
    serverCredentials: serverCredentials(certs),
    channelCredentials: (peer) => channelCredentials(certs, serviceId(peer)),
    tlsOptions,
    http2Options: (peer) => tlsOptions(serviceId(peer)),
    access: accessControl(policy),
    bound: (server) => logTlsRejections(server, logger),
    close() {
      stopWatching();
      certs.close();
    },
  };
}

function tlsOf(set: CertificateSet): Pick<SecureClientSessionOptions, "ca" | "cert" | "key"> {
  return { ca: set.ca, cert: set.cert, key: set.key };
}
