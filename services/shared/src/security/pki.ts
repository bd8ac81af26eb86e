// @peculiar/x509 decorates its ASN.1 schemas at load time and needs the Reflect metadata API installed first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { KeyObject, X509Certificate, createPrivateKey, randomBytes, webcrypto } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import {
  KAFKA_BROKER_ID,
  MESH_SERVICES,
  OPERATOR_ROLES,
  type MeshServiceName,
  type OperatorRole,
  operatorId,
  serviceId,
  spiffeIdOf,
} from "./identity.js";
import { brokerFiles, caFiles, operatorFiles, serviceFiles, writePkiFile, type BrokerFiles, type PkiFiles } from "./pki-layout.js";

x509.cryptoProvider.set(webcrypto);

const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;
const HOUR_MS = 3_600_000;

/** LEAF_LIFETIME_MS is how long service and operator certificates live by default (24 h). */
export const LEAF_LIFETIME_MS = 24 * HOUR_MS;
/** CA_LIFETIME_MS is how long the local CA lives (1 year). */
export const CA_LIFETIME_MS = 365 * 24 * HOUR_MS;

/** IssueOptions shape one certificate; tests use them to make expired or foreign certificates. */
export interface IssueOptions {
  /** lifetimeMs from now (default {@link LEAF_LIFETIME_MS}); notBefore/notAfter win when given. */
  lifetimeMs?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** issuerDir signs with the CA in another PKI folder instead of `dir`'s own: "a certificate from another CA". */
  issuerDir?: string;
}

/** EnsureOptions tune {@link ensureMeshPki}. */
export interface EnsureOptions {
  /** leafLifetimeMs of the service certificates it issues (default 24 h). */
  leafLifetimeMs?: number;
  /** caLifetimeMs of a CA it creates (default 1 year). */
  caLifetimeMs?: number;
}

/** PkiChange is one thing {@link ensureMeshPki} or {@link rotate} did, or chose not to do, and why. */
export interface PkiChange {
  readonly subject: "ca" | MeshServiceName;
  readonly action: "created" | "issued" | "kept";
  readonly reason: string;
}

/** PkiReport says what happened to a PKI folder, with a one-line summary for the log. */
export interface PkiReport {
  readonly dir: string;
  readonly changes: readonly PkiChange[];
  readonly summary: string;
}

/** IssuedCertificate is a leaf just written: its files, SPIFFE ID, serial number and expiry. */
export interface IssuedCertificate {
  readonly files: PkiFiles;
  readonly id: string;
  readonly serialNumber: string;
  readonly notAfter: Date;
}

interface Ca {
  readonly cert: x509.X509Certificate;
  readonly node: X509Certificate;
  readonly key: webcrypto.CryptoKey;
}

/**
 * ensureMeshPki makes `dir` a working mesh PKI: it creates the CA when it is missing, unreadable or expired, and
 * (re)issues each MESH_SERVICES leaf that is missing, unreadable, not paired with its key, issued by another CA,
 * or past half its lifetime. Leaves that are fine are kept, so running it at every start is cheap.
 */
export async function ensureMeshPki(dir: string, options: EnsureOptions = {}): Promise<PkiReport> {
  const changes: PkiChange[] = [];
  const existing = await loadCa(dir).catch((err: Error) => err);
  let ca: Ca;
  if (existing instanceof Error) {
    ca = await createCa(dir, options.caLifetimeMs ?? CA_LIFETIME_MS);
    const why = existing instanceof CaMissingError ? "missing" : existing.message;
    changes.push({ subject: "ca", action: "created", reason: `${why}; valid until ${ca.node.validToDate.toISOString()}` });
  } else {
    ca = existing;
    changes.push({ subject: "ca", action: "kept", reason: `valid until ${ca.node.validToDate.toISOString()}` });
  }
  for (const name of MESH_SERVICES) {
    const files = serviceFiles(dir, name);
    const state = await leafState(files, serviceId(name), ca.node);
    if (!state.renew) {
      changes.push({ subject: name, action: "kept", reason: state.reason });
      continue;
    }
    const issued = await issueService(files, name, ca, { lifetimeMs: options.leafLifetimeMs });
    changes.push({ subject: name, action: "issued", reason: `${state.reason}; valid until ${issued.notAfter.toISOString()}` });
  }
  return report(dir, changes);
}

/** rotate re-issues every service leaf in `dir` now, with new keys, whatever their state (the CA must exist). */
export async function rotate(dir: string, options: IssueOptions = {}): Promise<PkiReport> {
  const ca = await loadCa(options.issuerDir ?? dir);
  const changes: PkiChange[] = [];
  for (const name of MESH_SERVICES) {
    const issued = await issueService(serviceFiles(dir, name), name, ca, options);
    changes.push({ subject: name, action: "issued", reason: `rotated; serial ${issued.serialNumber}` });
  }
  return report(dir, changes);
}

/** OPERATOR_NAME is what an operator's name may be: it becomes a file name and part of a SPIFFE ID. */
export const OPERATOR_NAME = /^[a-z0-9-]{1,40}$/;

/** checkOperator throws, naming the value, when an operator's name or role is not one {@link issueOperator} takes. */
export function checkOperator(name: string, role: string): asserts role is OperatorRole {
  if (!OPERATOR_NAME.test(name)) {
    throw new Error(`operator name "${name}" is not valid: use 1 to 40 characters of a-z, 0-9 and "-"`);
  }
  if (!OPERATOR_ROLES.includes(role as OperatorRole)) {
    throw new Error(`operator role "${role}" is not valid: use ${OPERATOR_ROLES.join(" or ")}`);
  }
}

/**
 * issueOperator writes `clients/<name>.crt|.key`: a client-only leaf whose URI SAN is `operatorId(name, role)`,
 * signed by the CA in `dir` (or `options.issuerDir`). The name and role are checked first, with a message naming them.
 */
export async function issueOperator(dir: string, name: string, role: OperatorRole, options: IssueOptions = {}): Promise<IssuedCertificate> {
  checkOperator(name, role);
  const ca = await loadCa(options.issuerDir ?? dir);
  const id = operatorId(name, role);
  const subject = `CN=${name}, OU=${role}, O=shopmesh`;
  return issueLeaf(operatorFiles(dir, name), ca, { id, subject, server: false }, options);
}

/**
 * issueBroker writes the Kafka broker's leaf, `brokers/kafka.crt|.key` (URI SAN {@link KAFKA_BROKER_ID}, plus
 * `DNS:localhost` and `IP:127.0.0.1`, serverAuth + clientAuth), and `brokers/kafka.pem`, the key then the
 * certificate in one file: the PEM keystore of the TLS listener scripts/kafka.sh adds. A new key every time; the
 * broker reads its keystore at start only, so a running broker keeps the certificate it started with.
 */
export async function issueBroker(dir: string, options: IssueOptions = {}): Promise<IssuedCertificate & { files: BrokerFiles }> {
  const ca = await loadCa(options.issuerDir ?? dir);
  const files = brokerFiles(dir);
  const issued = await issueLeaf(files, ca, { id: KAFKA_BROKER_ID, subject: "CN=kafka, O=shopmesh", server: true }, options);
  const [key, cert] = await Promise.all([readFile(files.key, "utf8"), readFile(files.cert, "utf8")]);
  await writePkiFile(files.keystore, `${key.trimEnd()}\n${cert.trimEnd()}\n`, 0o600);
  return { ...issued, files };
}

class CaMissingError extends Error {}

/** loadCa reads the CA certificate and key of `dir`, failing with what is wrong and how to fix it. */
async function loadCa(dir: string): Promise<Ca> {
  const files = caFiles(dir);
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(files.cert, "utf8"), readFile(files.key, "utf8")]);
  } catch (err) {
    throw new CaMissingError(`no CA in ${dir} (${(err as NodeJS.ErrnoException).code ?? String(err)}): run \`npm run certs\``);
  }
  const node = new X509Certificate(certPem);
  const keyObject = createPrivateKey(keyPem);
  if (!node.checkPrivateKey(keyObject)) throw new Error(`the CA key in ${dir} does not match its certificate`);
  if (node.validToDate.getTime() <= Date.now()) throw new Error(`the CA in ${dir} expired on ${node.validToDate.toISOString()}`);
  const der = keyObject.export({ type: "pkcs8", format: "der" });
  const key = await webcrypto.subtle.importKey("pkcs8", der, KEY_ALGORITHM, false, ["sign"]);
  return { cert: new x509.X509Certificate(certPem), node, key };
}

async function createCa(dir: string, lifetimeMs: number): Promise<Ca> {
  const keys = await generateKeys();
  const notBefore = backdated(new Date());
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: "CN=shopmesh local CA, O=shopmesh",
    notBefore,
    notAfter: new Date(notBefore.getTime() + lifetimeMs),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const files = caFiles(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writePkiFile(files.key, await privateKeyPem(keys.privateKey), 0o600);
  await writePkiFile(files.cert, cert.toString("pem"), 0o644);
  return { cert, node: new X509Certificate(cert.toString("pem")), key: keys.privateKey };
}

function issueService(files: PkiFiles, name: MeshServiceName, ca: Ca, options: IssueOptions): Promise<IssuedCertificate> {
  return issueLeaf(files, ca, { id: serviceId(name), subject: `CN=${name}, O=shopmesh`, server: true }, options);
}

interface LeafShape {
  readonly id: string;
  readonly subject: string;
  /** server leaves also serve TLS: serverAuth, and the loopback names standard tools verify. */
  readonly server: boolean;
}

async function issueLeaf(files: PkiFiles, ca: Ca, shape: LeafShape, options: IssueOptions): Promise<IssuedCertificate> {
  const keys = await generateKeys();
  const notBefore = options.notBefore ?? backdated(new Date());
  const notAfter =
    options.notAfter ?? new Date(Math.min(Date.now() + (options.lifetimeMs ?? LEAF_LIFETIME_MS), ca.node.validToDate.getTime()));
  const names: x509.JsonGeneralName[] = [{ type: "url", value: shape.id }];
  if (shape.server) names.push({ type: "dns", value: "localhost" }, { type: "ip", value: "127.0.0.1" }, { type: "ip", value: "::1" });
  const usages = shape.server ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: shape.subject,
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  await mkdir(path.dirname(files.cert), { recursive: true, mode: 0o700 });
  // Key first, then certificate: each rename is atomic, but a reader can still see one new file and one old one
  // in between; the reading side (certificates.ts) only accepts a pair whose key matches the certificate.
  await writePkiFile(files.key, await privateKeyPem(keys.privateKey), 0o600);
  const pem = cert.toString("pem");
  await writePkiFile(files.cert, pem, 0o644);
  const written = new X509Certificate(pem);
  return { files, id: shape.id, serialNumber: written.serialNumber, notAfter: written.validToDate };
}

/** leafState says whether a service leaf must be (re)issued, and why; or why it is kept. */
async function leafState(files: PkiFiles, id: string, ca: X509Certificate): Promise<{ renew: boolean; reason: string }> {
  let cert: X509Certificate;
  try {
    const [certPem, keyPem] = await Promise.all([readFile(files.cert), readFile(files.key)]);
    cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return { renew: true, reason: "key does not match the certificate" };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { renew: true, reason: code === "ENOENT" ? "missing" : `unreadable (${(err as Error).message})` };
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return { renew: true, reason: "issued by another CA" };
  const actual = spiffeIdOf({ subjectaltname: cert.subjectAltName ?? "" });
  if (actual !== id) return { renew: true, reason: `identity is ${actual ?? "missing"}, not ${id}` };
  const from = cert.validFromDate.getTime();
  const to = cert.validToDate.getTime();
  const expiry = cert.validToDate.toISOString();
  if (Date.now() >= to - (to - from) / 2) return { renew: true, reason: `past half its lifetime (expires ${expiry})` };
  return { renew: false, reason: `valid until ${expiry}` };
}

function report(dir: string, changes: PkiChange[]): PkiReport {
  const summary = changes.map((c) => `${c.subject} ${c.action} (${c.reason})`).join("; ");
  return { dir, changes, summary };
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return KeyObject.from(key).export({ type: "pkcs8", format: "pem" }) as string;
}

/** serialNumber is 16 random bytes with the top bit clear: positive, as RFC 5280 requires, and unique enough. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString("hex");
}

/** backdated moves notBefore a minute back so a peer whose clock runs slightly behind accepts a fresh certificate. */
function backdated(now: Date): Date {
  return new Date(now.getTime() - 60_000);
}
