import type { experimental } from "@grpc/grpc-js";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { spiffeIdOf } from "./identity.js";
import type { PkiFiles } from "./pki-layout.js";

/** DEFAULT_REFRESH_MS is how often the PKI files are read again (60 s): well inside a 24 h leaf's half-life. */
export const DEFAULT_REFRESH_MS = 60_000;

/** CertificateSet is one consistent set of PEM files: the CA to trust, and a certificate with its matching key. */
export interface CertificateSet {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** CertificateLogger is the slice of a pino logger the certificates use. */
export interface CertificateLogger {
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
}

/** MeshCertificatesOptions configure {@link MeshCertificates}. */
export interface MeshCertificatesOptions {
  logger: CertificateLogger;
  /** refreshMs is how often the files are read again (default {@link DEFAULT_REFRESH_MS}). */
  refreshMs?: number;
}

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * MeshCertificates is a grpc-js CertificateProvider over one process's PKI files (the CA and its own pair), read
 * now and then every `refreshMs`, so certificates rotate without a restart: grpc-js servers swap their TLS context
 * on each update, and every new client connection is made with the latest set.
 *
 * It is written by hand rather than taken from grpc-js's FileWatcherCertificateProvider because that one reads the
 * certificate and the key as two unrelated files and hands out whatever it read. A rotation replaces both, one
 * rename after the other, so a read in between pairs the new certificate with the old key; grpc-js then fails to
 * build the TLS context and drops every new connection until its next read, a minute later. Here a set is handed
 * out only when the key matches the certificate (`X509Certificate#checkPrivateKey`); otherwise the last good set
 * stays in use, and the problem is logged once at warn.
 */
export class MeshCertificates implements experimental.CertificateProvider {
  readonly files: PkiFiles;
  readonly #logger: CertificateLogger;
  readonly #timer: NodeJS.Timeout;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #changeListeners = new Set<(set: CertificateSet) => void>();
  readonly #ready: Promise<void>;
  #resolveReady: () => void = () => {};
  #current: CertificateSet | undefined;
  #reading: Promise<void> | undefined;
  /** the problem last logged, so a bad state found by every poll is logged once, not once a minute. */
  #problem: string | undefined;

  constructor(files: PkiFiles, options: MeshCertificatesOptions) {
    this.files = files;
    this.#logger = options.logger;
    this.#ready = new Promise<void>((resolve) => (this.#resolveReady = resolve));
    const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
    if (!(refreshMs > 0)) throw new Error(`certificate refresh interval must be a positive number of ms, got ${refreshMs}`);
    this.#timer = setInterval(() => void this.refresh(), refreshMs);
    this.#timer.unref();
    void this.refresh();
  }

  /**
   * ready resolves once a good set has been read. grpc-js fails client connections made before its provider's
   * first update ("Failed to load credentials") and a server drops them, so bind and dial after it. With
   * `timeoutMs` it rejects after that long naming what is wrong with the files.
   */
  ready(timeoutMs?: number): Promise<void> {
    if (this.#current !== undefined) return this.#ready;
    // The poll timer is unref'd so that certificates never keep a process alive; but a process awaiting this (a
    // service at start, nothing else running yet) must live to see the files appear or the timeout pass.
    this.#timer.ref();
    if (timeoutMs === undefined) return this.#ready;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#timer.unref();
        reject(new Error(`no usable certificates after ${timeoutMs} ms: ${this.#problem ?? "still reading"}`));
      }, timeoutMs);
      void this.#ready.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** current is the set in use, e.g. for an HTTP/2 client outside grpc-js; it throws before {@link ready}. */
  current(): CertificateSet {
    if (this.#current === undefined) throw new Error(`certificates from ${this.files.cert} are not loaded yet: await ready() first`);
    return this.#current;
  }

  /** onChange calls `listener` with each new set after the first; it returns a function that stops it. */
  onChange(listener: (set: CertificateSet) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** refresh reads the files now (the timer calls it; a test or a SIGHUP may too); concurrent calls share a read. */
  refresh(): Promise<void> {
    this.#reading ??= this.#read().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  /** close stops polling; grpc-js keeps the last set it was given. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #read(): Promise<void> {
    let next: CertificateSet;
    let cert: X509Certificate;
    try {
      const [ca, certPem, key] = await readAll([this.files.ca, this.files.cert, this.files.key]);
      next = { ca, cert: certPem, key };
      if (this.#current && sameSet(this.#current, next)) {
        this.#problem = undefined; // back to the set in use: a problem seen again later is news again
        return;
      }
      new X509Certificate(ca); // throws on a file that is not a certificate
      cert = new X509Certificate(certPem);
      if (!cert.checkPrivateKey(createPrivateKey(key))) {
        throw new Error(`the key ${this.files.key} does not match the certificate ${this.files.cert} (serial ${cert.serialNumber})`);
      }
    } catch (err) {
      this.#reject(err instanceof Error ? err.message : String(err));
      return;
    }
    this.#accept(next, cert);
  }

  #reject(problem: string): void {
    if (problem === this.#problem) return;
    this.#problem = problem;
    const kept = this.#current
      ? `keeping the last good certificate (serial ${new X509Certificate(this.#current.cert).serialNumber})`
      : "no certificate in use yet";
    this.#logger.warn({ cert: this.files.cert, problem }, `certificates not reloaded: ${problem}; ${kept}`);
  }

  #accept(next: CertificateSet, cert: X509Certificate): void {
    const previous = this.#current;
    this.#current = next;
    this.#problem = undefined;
    const fields = {
      cert: this.files.cert,
      identity: spiffeIdOf({ subjectaltname: cert.subjectAltName ?? "" }),
      serial: cert.serialNumber,
      validTo: cert.validToDate.toISOString(),
    };
    this.#logger.info(fields, previous ? "certificates reloaded" : "certificates loaded");
    if (!previous?.cert.equals(next.cert) || !previous.key.equals(next.key)) {
      for (const listener of this.#identityListeners) listener(identityUpdate(next));
    }
    if (!previous?.ca.equals(next.ca)) {
      for (const listener of this.#caListeners) listener({ caCertificate: next.ca });
    }
    if (previous) for (const listener of this.#changeListeners) listener(next);
    else {
      this.#timer.unref();
      this.#resolveReady();
    }
  }

  // grpc-js's CertificateProvider contract: a listener added after the first read learns the current set at once,
  // but on the next tick, as grpc-js's own provider does (its server credentials start watching its TLS server
  // only after adding the listener, and would miss a synchronous call).
  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    process.nextTick(() => {
      if (this.#current && this.#caListeners.has(listener)) listener({ caCertificate: this.#current.ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    process.nextTick(() => {
      if (this.#current && this.#identityListeners.has(listener)) listener(identityUpdate(this.#current));
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }
}

/**
 * readAll reads the files in parallel but fails with the first missing one in the order given, not whichever
 * read failed first: the same bad state must give the same problem, or the warn-once rule would warn every poll.
 */
async function readAll(files: readonly [string, string, string]): Promise<[Buffer, Buffer, Buffer]> {
  const results = await Promise.allSettled(files.map((file) => readFile(file)));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<Buffer>).value) as [Buffer, Buffer, Buffer];
}

function identityUpdate(set: CertificateSet): experimental.IdentityCertificateUpdate {
  return { certificate: set.cert, privateKey: set.key };
}

function sameSet(a: CertificateSet, b: CertificateSet): boolean {
  return a.ca.equals(b.ca) && a.cert.equals(b.cert) && a.key.equals(b.key);
}
