import path from "node:path";
import type { ConnectionOptions } from "node:tls";
import type { MeshSecurity } from "../config.js";
import { MeshCertificates, type CertificateLogger, type CertificateSet } from "../security/certificates.js";
import { KAFKA_BROKER_ID, type MeshServiceName } from "../security/identity.js";
import { serviceFiles, type PkiFiles } from "../security/pki-layout.js";
import { checkServerId } from "../security/tls.js";

/** KAFKA_CERTIFICATES_READY_MS bounds the wait for a process's certificates before its Kafka client is built. */
const KAFKA_CERTIFICATES_READY_MS = 10_000;

/** KafkaTls is what a process's Kafka client connects with under KAFKA_TLS=1, and how to stop watching the files. */
export interface KafkaTls {
  /** ssl is kafkajs's `ssl` option: the CA, this process's pair, and the broker's identity check. */
  readonly ssl: ConnectionOptions;
  close(): void;
}

/** KafkaTlsOptions configure {@link openKafkaTls}. */
export interface KafkaTlsOptions {
  readonly logger: CertificateLogger;
  /** refreshMs is how often the files are read again (PKI_REFRESH_MS). */
  readonly refreshMs?: number;
}

/**
 * openKafkaTls reads a process's CA and pair (the same files its gRPC side uses) into kafkajs `ssl` options for
 * the broker's TLS listener (scripts/kafka.sh, KAFKA_TLS_PORT): the client presents its own certificate, and accepts
 * the broker only when it presents {@link KAFKA_BROKER_ID}, not any certificate the CA signed.
 *
 * The files are watched like the gRPC side's (MeshCertificates: a pair is taken only when its key matches), and a
 * new pair is copied into `ssl` in place: kafkajs reads it at each new connection, so connections opened after a
 * rotation present the new certificate. Connections already open keep theirs; TLS checks it at the handshake only.
 */
export async function openKafkaTls(files: PkiFiles, options: KafkaTlsOptions): Promise<KafkaTls> {
  const certs = new MeshCertificates(files, {
    logger: options.logger,
    ...(options.refreshMs === undefined ? {} : { refreshMs: options.refreshMs }),
  });
  try {
    await certs.ready(KAFKA_CERTIFICATES_READY_MS);
  } catch (error) {
    certs.close();
    throw new Error(`Kafka over TLS (KAFKA_TLS=1): ${(error as Error).message}`);
  }
  const ssl: ConnectionOptions = {
    ...pairOf(certs.current()),
    checkServerIdentity: (_host, cert) => checkServerId(cert, KAFKA_BROKER_ID),
  };
  const stopWatching = certs.onChange((set) => Object.assign(ssl, pairOf(set)));
  return {
    ssl,
    close() {
      stopWatching();
      certs.close();
    },
  };
}

function pairOf(set: CertificateSet): Pick<ConnectionOptions, "ca" | "cert" | "key"> {
  return { ca: set.ca, cert: set.cert, key: set.key };
}

/** ProcessCertificates are what a process's certificates serve: its Kafka TLS (if any), and one close for both sides. */
export interface ProcessCertificates {
  /** kafkaSsl is kafkajs's `ssl` under KAFKA_TLS=1, else undefined (plaintext). */
  readonly kafkaSsl: ConnectionOptions | undefined;
  /** close stops watching the files, for the gRPC transport and the Kafka client alike. */
  close(): void;
}

/**
 * kafkaTlsBeside opens the Kafka TLS of the mesh process `self` (services/<self>.crt in PKI_DIR) next to its
 * already open gRPC transport, when `enabled` (KAFKA_TLS=1; config.ts's readKafkaTls has refused it with
 * MESH_INSECURE). If the certificates cannot be read, it closes the transport and fails, as a start must.
 */
export async function kafkaTlsBeside(
  transport: { close(): void },
  self: string,
  enabled: boolean,
  security: MeshSecurity,
  logger: CertificateLogger,
): Promise<ProcessCertificates> {
  let kafka: KafkaTls | undefined;
  if (enabled && security.mode === "mtls") {
    const files = serviceFiles(path.resolve(security.pkiDir), self as MeshServiceName);
    try {
      kafka = await openKafkaTls(files, { logger, refreshMs: security.refreshMs });
    } catch (error) {
      transport.close();
      throw error;
    }
  }
  return {
    kafkaSsl: kafka?.ssl,
    close() {
      transport.close();
      kafka?.close();
    },
  };
}
