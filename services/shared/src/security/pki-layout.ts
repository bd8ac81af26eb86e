import { randomBytes } from "node:crypto";
import { chmod, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { MeshServiceName } from "./identity.js";

/** DEFAULT_PKI_DIR is where the mesh's local CA lives when `PKI_DIR` is not set (ignored by git with `.data/`). */
export const DEFAULT_PKI_DIR = ".data/pki";

/** pkiDir is the PKI folder from the environment: `PKI_DIR`, else {@link DEFAULT_PKI_DIR}, resolved to absolute. */
export function pkiDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env["PKI_DIR"]?.trim() || DEFAULT_PKI_DIR);
}

/** PkiFiles are the three files one process needs for mTLS: the CA to trust, and its own certificate and key. */
export interface PkiFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** CA_FILES are the CA's certificate and private key, relative to the PKI folder. */
export const CA_FILES = { cert: "ca.crt", key: "ca.key" } as const;

/** caFiles are the CA's certificate and key in `dir`. */
export function caFiles(dir: string): { cert: string; key: string } {
  return { cert: path.join(dir, CA_FILES.cert), key: path.join(dir, CA_FILES.key) };
}

/** serviceFiles are a mesh service's files in `dir`: `ca.crt` and `services/<name>.crt|.key`. */
export function serviceFiles(dir: string, name: MeshServiceName): PkiFiles {
  return pairIn(dir, "services", name);
}

/** operatorFiles are an operator's files in `dir`: `ca.crt` and `clients/<name>.crt|.key`. */
export function operatorFiles(dir: string, name: string): PkiFiles {
  return pairIn(dir, "clients", name);
}

/** BrokerFiles are the Kafka broker's files: its pair, and the same two as one PEM keystore Kafka reads. */
export interface BrokerFiles extends PkiFiles {
  /** keystore holds the private key (PKCS#8, unencrypted) then the certificate: Kafka's `ssl.keystore.type=PEM`. */
  readonly keystore: string;
}

/** brokerFiles are the Kafka broker's files in `dir`: `ca.crt` (its truststore) and `brokers/kafka.crt|.key|.pem`. */
export function brokerFiles(dir: string): BrokerFiles {
  return { ...pairIn(dir, "brokers", "kafka"), keystore: path.join(dir, "brokers", "kafka.pem") };
}

function pairIn(dir: string, folder: string, name: string): PkiFiles {
  return {
    ca: path.join(dir, CA_FILES.cert),
    cert: path.join(dir, folder, `${name}.crt`),
    key: path.join(dir, folder, `${name}.key`),
  };
}

/**
 * writePkiFile writes one PKI file atomically: a temp file in the target's folder with its final mode (0600 for
 * keys, 0644 for certificates), renamed over the target, so a reader sees the old file or the new one, never half.
 */
export async function writePkiFile(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temp, content, { mode });
    await chmod(temp, mode); // writeFile's mode passes through the umask; the modes are part of the layout
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
