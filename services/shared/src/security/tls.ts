import { experimental, type ChannelCredentials, type Server, type ServerCredentials } from "@grpc/grpc-js";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { Server as TlsServer, type PeerCertificate, type TLSSocket } from "node:tls";
import type { RpcLogger } from "../grpc/rpc-logger.js";
import type { MeshCertificates } from "./certificates.js";
import { spiffeIdOf } from "./identity.js";

/**
 * serverCredentials are mTLS server credentials over the mesh's certificates: the server presents its own pair and
 * requires a client certificate that verifies against the CA, or the handshake fails. Both are re-read from the
 * files by `certs` without a restart. Whose certificate may call what is the access policy's business, not this.
 */
export function serverCredentials(certs: MeshCertificates): ServerCredentials {
  return experimental.createCertificateProviderServerCredentials(certs, certs, true);
}

/**
 * channelCredentials are mTLS client credentials over the mesh's certificates: the client presents its own pair,
 * verifies the server's chain against the CA and then accepts the server only if its SPIFFE ID is
 * `expectedServerId`. The ID replaces the host name check: a certificate signed by the CA for another service is
 * refused, whatever address it answers on.
 */
export function channelCredentials(certs: MeshCertificates, expectedServerId: string): ChannelCredentials {
  return experimental.createCertificateProviderChannelCredentials(certs, certs, {
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerId(cert, expectedServerId),
  });
}

/** checkServerId is the client's identity check: undefined when the peer is `expected`, else an error naming both. */
export function checkServerId(cert: PeerCertificate, expected: string): Error | undefined {
  const actual = spiffeIdOf(cert);
  if (actual === expected) return undefined;
  return new Error(`server identity mismatch: expected ${expected}, the server presented ${actual ?? "no SPIFFE ID"}`);
}

type TlsLogger = Pick<RpcLogger, "warn" | "debug">;

const hooked = new WeakSet<object>();

/**
 * logTlsRejections logs a warn line for TLS handshakes a bound grpc-js server rejected, with the peer's address
 * and why (one line per host and reason per minute, counting the ones it left out): no client certificate, one the CA did not issue, an expired one, a plaintext client ... grpc-js itself
 * only traces them. Call it after `bindServer`: it hooks the HTTP/2 servers grpc-js keeps in its private
 * `http2Servers` map, and throws at start if a grpc-js version moved that map, rather than going quiet.
 * Connections closed before any handshake (a TCP health probe) are not rejections: those go to debug.
 */
export function logTlsRejections(server: Server, logger: TlsLogger, options: { windowMs?: number } = {}): void {
  const repeats = new RepeatedRejections(options.windowMs ?? REJECTION_LOG_WINDOW_MS);
  const http2Servers: unknown = server["http2Servers" as keyof Server];
  if (!(http2Servers instanceof Map)) {
    throw new Error("grpc-js no longer exposes its HTTP/2 servers (Server.http2Servers): TLS rejections cannot be logged");
  }
  if (http2Servers.size === 0) throw new Error("logTlsRejections needs a bound server: call it after bindServer");
  for (const http2Server of http2Servers.keys()) {
    if (!(http2Server instanceof EventEmitter)) {
      throw new Error("grpc-js's Server.http2Servers no longer maps HTTP/2 servers: TLS rejections cannot be logged");
    }
    if (!(http2Server instanceof TlsServer) || hooked.has(http2Server)) continue; // plaintext ports have no handshakes
    hooked.add(http2Server);
    // The peer's address must be read while the socket is open: when a client certificate fails verification,
    // Node destroys the socket before it reports the error.
    http2Server.prependListener("connection", (socket: Socket) => void socket.remoteAddress);
    http2Server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      const peer = peerAddress(socket);
      const reason = rejectionReason(error, socket);
      if (reason === undefined) {
        logger.debug({ peer, code: error.code }, `TLS connection from ${peer} closed before the handshake`);
        return;
      }
      const suppressed = repeats.admit(hostOf(socket), reason);
      if (suppressed === undefined) return;
      logger.warn(
        { peer, reason, code: socket.authorizationError ?? error.code, ...(suppressed > 0 ? { suppressed } : {}) },
        `TLS handshake rejected from ${peer}: ${reason}` +
          (suppressed > 0 ? ` (and ${suppressed} more like it from that host since the last line)` : ""),
      );
    });
  }
}

/**
 * REJECTION_LOG_WINDOW_MS: one warn line per host and reason per minute. A client stuck in a retry loop with a bad
 * certificate (grpc-js reconnects within a second) would otherwise write a line per attempt, and an open port would
 * let anyone flood the log.
 */
const REJECTION_LOG_WINDOW_MS = 60_000;

/** MAX_TRACKED bounds the hosts remembered; past it, windows that ended are forgotten first. */
const MAX_TRACKED = 1_024;

/**
 * RepeatedRejections decides which rejections get a log line: the first of each (host, reason) in a window, which
 * then also says how many like it were suppressed since the last line. Hand-written: pino has no rate limiting, and
 * a counter per key is all this needs.
 */
class RepeatedRejections {
  private readonly seen = new Map<string, { since: number; suppressed: number }>();

  constructor(private readonly windowMs: number) {}

  /** admit returns how many were suppressed before this one when it should be logged, undefined when not. */
  admit(host: string, reason: string, now = Date.now()): number | undefined {
    const key = `${host} ${reason}`;
    const entry = this.seen.get(key);
    if (entry !== undefined && now - entry.since < this.windowMs) {
      entry.suppressed += 1;
      return undefined;
    }
    if (this.seen.size >= MAX_TRACKED) this.forgetEnded(now);
    this.seen.set(key, { since: now, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }

  private forgetEnded(now: number): void {
    for (const [key, entry] of this.seen) if (now - entry.since >= this.windowMs) this.seen.delete(key);
    // Still full: every key is in its window; forget the oldest rather than grow without bound.
    if (this.seen.size >= MAX_TRACKED) this.seen.delete(this.seen.keys().next().value!);
  }
}

/** VERIFY_REASONS name the client certificate verification failures the mesh expects to see. */
const VERIFY_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: "client certificate expired",
  CERT_NOT_YET_VALID: "client certificate not yet valid",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "client certificate not issued by the mesh CA (unknown CA)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "client certificate not issued by the mesh CA (unknown CA)",
  UNABLE_TO_GET_ISSUER_CERT: "client certificate not issued by the mesh CA (unknown CA)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "client certificate is self-signed (unknown CA)",
  SELF_SIGNED_CERT_IN_CHAIN: "client certificate chains to a foreign root (unknown CA)",
  CERT_SIGNATURE_FAILURE: "client certificate signature does not verify",
  INVALID_PURPOSE: "client certificate is not for client authentication",
};

/**
 * rejectionReason says why a handshake failed, or undefined when the peer hung up before there was one. What each
 * case looks like, found by test (services/shared/test/mtls.test.ts):
 * - no client certificate: OpenSSL fails the handshake, ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE;
 * - a certificate that does not verify (foreign CA, expired): OpenSSL accepts it and Node checks it after the
 *   handshake, destroying the socket; the error is a bare ECONNRESET "socket hang up" and the reason is in the
 *   socket's `authorizationError` (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE ...);
 * - a plaintext client: its HTTP/2 preface is not a TLS record, ERR_SSL_WRONG_VERSION_NUMBER (an HTTP/1 request
 *   line gives ERR_SSL_HTTP_REQUEST);
 * - a client that refused our certificate: its TLS alert, ERR_SSL_TLSV1_ALERT_* / ERR_SSL_SSLV3_ALERT_*.
 */
function rejectionReason(error: NodeJS.ErrnoException, socket: TLSSocket): string | undefined {
  const verifyCode = socket.authorizationError as unknown as string | undefined;
  if (verifyCode) return VERIFY_REASONS[verifyCode] ?? `client certificate rejected (${verifyCode})`;
  const code = error.code ?? "";
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE") return "no client certificate";
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "ERR_SSL_HTTP_REQUEST") return "plaintext client (not TLS)";
  if (code === "ERR_TLS_HANDSHAKE_TIMEOUT") return "handshake timed out";
  if (/^ERR_SSL_(TLSV1|SSLV3|TLSV13)_ALERT_/.test(code)) return `the client refused the server's certificate (${alertOf(error)})`;
  if (code === "ECONNRESET") return undefined;
  return `${code || "TLS error"}: ${alertOf(error)}`;
}

function alertOf(error: Error & { reason?: string }): string {
  return error.reason ?? error.message.trim();
}

/** hostOf is the peer's address without its port: rejections are counted per host. */
function hostOf(socket: TLSSocket): string {
  const tcp = (socket as unknown as { _parent?: Socket })._parent;
  return socket.remoteAddress ?? tcp?.remoteAddress ?? "unknown";
}

function peerAddress(socket: TLSSocket): string {
  // `_parent` is the TCP socket the TLS socket wraps; its address was cached by the "connection" listener above.
  const tcp = (socket as unknown as { _parent?: Socket })._parent;
  const address = socket.remoteAddress ?? tcp?.remoteAddress;
  const port = socket.remotePort ?? tcp?.remotePort;
  if (address === undefined) return "unknown";
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}
