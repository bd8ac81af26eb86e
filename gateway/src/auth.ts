import { getOption, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { errors as jose, type JWTPayload, jwtVerify, SignJWT } from "jose";
import { http } from "#gen/google/api/annotations_pb.js";
import { ADMIN_SCOPE, type Principal } from "#shared/security/principal.js";
import type { JwtConfig } from "./config.js";
import { challengeOf } from "./errors.js";
import { headerOf, type NodeRequest } from "./http-handler.js";
import { requestContext, requestContextKey } from "./request-context.js";

/** WRITE_SCOPES maps each proto package prefix to the scope its writes need. */
const WRITE_SCOPES: ReadonlyArray<readonly [prefix: string, scope: string]> = [
  ["shop.order.", "orders:write"],
  ["shop.inventory.", "inventory:write"],
];

/** ALL_WRITE_SCOPES is every write scope the API knows; `npm run token` grants them all unless told otherwise. */
export const ALL_WRITE_SCOPES: readonly string[] = WRITE_SCOPES.map(([, scope]) => scope);

/**
 * TOKEN_PACKAGES are the packages every method of which needs a verified token, reads included: the order service
 * limits a customer to their own orders by the token's subject, so an order read without one has no owner to check.
 * An order's notifications follow the order's rule (ownership.ts), which needs the same subject.
 */
const TOKEN_PACKAGES: readonly string[] = ["shop.order.", "shop.notification."];

/** ADMIN_PACKAGES are the shop's own business (payments): every method needs a token with ADMIN_SCOPE. */
const ADMIN_PACKAGES: readonly string[] = ["shop.payment."];

/** Access is what a method asks of the caller at the gateway: nothing, or a verified token holding every one of `scopes`. */
export type Access = { readonly token: false } | { readonly token: true; readonly scopes: readonly string[] };

const OPEN: Access = { token: false };

/**
 * accessOf decides what a method needs, from its contract. Payments (reads and RefundPayment): a token with
 * ADMIN_SCOPE. Orders: a token on every method, and writes also their scope. Other writes (a `google.api.http`
 * rule other than `get`, or without a rule a client or bidi stream: ImportStock, ReserveStock): a token with the
 * package's write scope. Everything else (product reads, server reflection, health) is open.
 */
export function accessOf(method: DescMethod): Access {
  const typeName = method.parent.typeName;
  if (ADMIN_PACKAGES.some((prefix) => typeName.startsWith(prefix))) return { token: true, scopes: [ADMIN_SCOPE] };
  if (isWrite(method)) return { token: true, scopes: [requiredScope(method)] };
  return TOKEN_PACKAGES.some((prefix) => typeName.startsWith(prefix)) ? { token: true, scopes: [] } : OPEN;
}

/** isWrite says whether a method changes state, from its contract (see accessOf). */
function isWrite(method: DescMethod): boolean {
  // Server reflection is a bidi stream, but it only describes the public contracts.
  if (method.parent.typeName.startsWith("grpc.reflection.")) return false;
  const rule = getOption(method, http);
  if (rule.pattern.case !== undefined) return rule.pattern.case !== "get";
  return method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
}

/** requiredScope is the scope a write on this method needs, e.g. `orders:write` for shop.order.v2. */
function requiredScope(method: DescMethod): string {
  const typeName = method.parent.typeName;
  return WRITE_SCOPES.find(([prefix]) => typeName.startsWith(prefix))?.[1] ?? ADMIN_SCOPE;
}

/** Auth checks bearer tokens, for REST (authorizeRequest) and for RPCs (interceptor) alike, by accessOf. */
export interface Auth {
  /**
   * authorize returns the verified principal, or undefined for an open method (no token needed, none read). It
   * throws a ConnectError: UNAUTHENTICATED (→ 401) for a missing, malformed, expired, wrongly signed or
   * wrong-audience token, PERMISSION_DENIED (→ 403) for a valid token without a scope the method needs.
   */
  authorize(method: DescMethod, authorization: string | undefined): Promise<Principal | undefined>;
  /** authorizeRequest is authorize for an HTTP request; it also records the principal in the request context. */
  authorizeRequest(req: NodeRequest, method: DescMethod): Promise<Principal | undefined>;
  /** verify checks a bearer token alone (no scope check). */
  verify(authorization: string | undefined): Promise<Principal>;
  /** interceptor applies authorize to every RPC served over Connect, gRPC and gRPC-Web. */
  readonly interceptor: Interceptor;
  /** mint signs a token this gateway accepts (dev tooling and tests). */
  mint(options: MintOptions): Promise<string>;
}

/** MintOptions describe a token to sign. */
export interface MintOptions {
  subject: string;
  scopes: readonly string[];
  /** ttlSeconds defaults to one hour. */
  ttlSeconds?: number;
}

/** createAuth builds the gateway's Auth over its JWT settings. */
export function createAuth(jwt: JwtConfig): Auth {
  const key = new TextEncoder().encode(jwt.secret);

  const verified = new VerifiedTokenCache(VERIFIED_TOKEN_CACHE_SIZE);

  const verify = async (authorization: string | undefined): Promise<Principal> => {
    if (authorization === undefined || authorization.trim() === "") throw unauthenticated("missing bearer token");
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match?.[1]) throw unauthenticated("invalid token: the Authorization header must be `Bearer <jwt>`");
    const token = match[1];
    const cached = verified.get(token, Date.now());
    if (cached) return cached;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        issuer: jwt.issuer,
        audience: jwt.audience,
        algorithms: [...jwt.algorithms],
        requiredClaims: ["exp", "sub"],
      }));
    } catch (err) {
      throw unauthenticated(`invalid token: ${reasonOf(err, jwt)}`);
    }
    // Both travel on to the services as metadata (PRINCIPAL_HEADERS), so they must be plain header text.
    if (!HEADER_TOKEN.test(String(payload.sub))) throw unauthenticated(`invalid token: claim "sub" is invalid`);
    const scopes = typeof payload["scope"] === "string" ? payload["scope"].split(" ").filter(Boolean) : [];
    if (!scopes.every((scope) => HEADER_TOKEN.test(scope))) throw unauthenticated(`invalid token: claim "scope" is invalid`);
    const principal: Principal = Object.freeze({ subject: String(payload.sub), scopes: Object.freeze(scopes) });
    // requiredClaims makes exp present; jose checked it is in the future.
    if (typeof payload.exp === "number") verified.set(token, principal, payload.exp * 1000);
    return principal;
  };

  const authorize = async (method: DescMethod, authorization: string | undefined): Promise<Principal | undefined> => {
    const access = accessOf(method);
    if (!access.token) return undefined;
    const principal = await verify(authorization);
    const missing = access.scopes.find((scope) => !principal.scopes.includes(scope));
    if (missing !== undefined) {
      throw new ConnectError(
        `token lacks the scope "${missing}" needed for ${method.parent.typeName}/${method.name}`,
        Code.PermissionDenied,
      );
    }
    return principal;
  };

  const interceptor: Interceptor = (next) => async (req) => {
    const principal = await authorize(req.method, req.header.get("authorization") ?? undefined).catch((err: unknown) => {
      // RFC 6750 §3: a 401 names the scheme. Error metadata travels as headers (Connect) or trailers (gRPC).
      if (err instanceof ConnectError && err.code === Code.Unauthenticated)
        err.metadata.set("www-authenticate", challengeOf(err.rawMessage));
      throw err;
    });
    const context = req.contextValues.get(requestContextKey);
    if (principal && context) context.principal = principal;
    return await next(req);
  };

  return {
    authorize,
    verify,
    interceptor,
    async authorizeRequest(req, method) {
      const principal = await authorize(method, headerOf(req, "authorization"));
      if (principal) requestContext(req).principal = principal;
      return principal;
    },
    mint: (options) => signToken(jwt, options),
  };
}

/** HEADER_TOKEN is a subject or scope that is safe as a metadata value: printable ASCII, no spaces (at most 256). */
const HEADER_TOKEN = /^[\x21-\x7e]{1,256}$/;

/** VERIFIED_TOKEN_CACHE_SIZE bounds the verified-token cache (entries; a token string is a few hundred bytes). */
const VERIFIED_TOKEN_CACHE_SIZE = 1024;

/**
 * VerifiedTokenCache remembers tokens that passed verification, keyed by the exact token string, until their `exp`:
 * the same string always verifies the same way (same key, issuer, audience, algorithms) until it expires, so a
 * client writing with one token pays one HMAC check per token instead of one per request (WebCrypto HMAC through
 * jose was ~6 % of the gateway's CPU under P3). Rejections are never cached; an expired entry is a miss (and is
 * verified again, which rejects it as expired). Bounded LRU: a Map in insertion order, a hit moves to the end.
 */
class VerifiedTokenCache {
  private readonly entries = new Map<string, { principal: Principal; expiresAtMs: number }>();

  constructor(private readonly capacity: number) {}

  get(token: string, nowMs: number): Principal | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    // jose rejects a token whose exp is not after now; so does the cache.
    if (entry.expiresAtMs <= nowMs) return undefined;
    this.entries.set(token, entry);
    return entry.principal;
  }

  set(token: string, principal: Principal, expiresAtMs: number): void {
    this.entries.delete(token);
    this.entries.set(token, { principal, expiresAtMs });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}

/** signToken signs an HS JWT with the configured issuer, audience and first allowed algorithm. */
export async function signToken(jwt: JwtConfig, options: MintOptions): Promise<string> {
  const alg = jwt.algorithms[0] ?? "HS256";
  return await new SignJWT({ scope: options.scopes.join(" ") })
    .setProtectedHeader({ alg, typ: "JWT" })
    .setIssuer(jwt.issuer)
    .setAudience(jwt.audience)
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(jwt.secret));
}

function unauthenticated(message: string): ConnectError {
  return new ConnectError(message, Code.Unauthenticated);
}

/** reasonOf turns jose's failure into a short, safe reason (never echoing the token). */
function reasonOf(err: unknown, jwt: JwtConfig): string {
  if (err instanceof jose.JWTExpired) return "token expired";
  if (err instanceof jose.JWTClaimValidationFailed) {
    if (err.claim === "aud") return `audience must include "${jwt.audience}"`;
    if (err.claim === "iss") return `issuer must be "${jwt.issuer}"`;
    return `claim "${err.claim}" ${err.reason === "missing" ? "is missing" : "is invalid"}`;
  }
  if (err instanceof jose.JOSEAlgNotAllowed) return `algorithm not allowed (allowed: ${jwt.algorithms.join(", ")})`;
  if (err instanceof jose.JWSSignatureVerificationFailed) return "signature verification failed";
  if (err instanceof jose.JOSEError) return "malformed token";
  return "malformed token";
}
