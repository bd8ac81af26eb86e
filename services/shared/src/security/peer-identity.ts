import { EventEmitter } from "node:events";
import type { PeerCertificate } from "node:tls";
import { spiffeIdOf } from "./identity.js";

/** TlsPeerCall is the part of a grpc-js server call the peer's identity is read from. */
export interface TlsPeerCall {
  /** getAuthContext is grpc-js's view of the connection (its AuthContext type is not exported). */
  getAuthContext(): { sslPeerCertificate?: PeerCertificate | undefined };
}

/**
 * peerIdentity is the SPIFFE ID of a call's TLS peer (undefined when it has none), read from its certificate once
 * per HTTP/2 connection instead of once per call.
 *
 * Why: grpc-js answers every `getAuthContext()` with `TLSSocket.getPeerCertificate()`, which builds a fresh JS
 * object from the X.509 certificate (SANs, raw DER, public key, three fingerprints). Per call that was a quarter of
 * the order service's CPU under GetOrder load (bench/results/p1-mtls.md). A connection's peer certificate cannot
 * change after its handshake: TLS 1.3 has no renegotiation, and Node's HTTP/2 refuses it on TLS 1.2 (RFC 9113
 * §9.2.1; services/shared/test/peer-identity.test.ts checks both), so one read per connection is the same answer.
 *
 * Hand-written because grpc-js (1.14) exposes no per-connection handle on a server call: the connection is found by
 * walking its private fields (`call[.call][.nextCall…].stream.session`). When the walk finds nothing (a grpc-js that
 * moved them, a test double), the identity is read per call as before: slower, never wrong. The same test fails if
 * the walk stops finding the connection, so an upgrade shows up there rather than as a silent slowdown. The cache is
 * keyed by the session object itself, never by the peer's address, which a later connection may reuse.
 */
export function peerIdentity(call: TlsPeerCall): string | undefined {
  const session = http2SessionOf(call);
  if (session === undefined) return spiffeIdOf(call.getAuthContext().sslPeerCertificate);
  if (identities.has(session)) return identities.get(session);
  const identity = spiffeIdOf(call.getAuthContext().sslPeerCertificate);
  identities.set(session, identity);
  return identity;
}

const identities = new WeakMap<object, string | undefined>();

/** MAX_DEPTH bounds the walk through grpc-js's interceptor chain (one link per server interceptor). */
const MAX_DEPTH = 16;

/**
 * http2SessionOf is the HTTP/2 session a grpc-js server call arrived on, or undefined when it cannot be found. It
 * takes a handler's call (ServerUnaryCallImpl and kin keep the intercepting call in `call`) or a server
 * interceptor's (a chain of `nextCall`s ending in the call that holds the HTTP/2 `stream`).
 */
export function http2SessionOf(call: TlsPeerCall): object | undefined {
  let link: unknown = call;
  for (let depth = 0; depth < MAX_DEPTH && typeof link === "object" && link !== null; depth++) {
    const stream = (link as { stream?: unknown }).stream;
    if (stream instanceof EventEmitter) {
      const session = (stream as { session?: unknown }).session;
      return session instanceof EventEmitter ? session : undefined;
    }
    link = (link as { call?: unknown }).call ?? (link as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}
