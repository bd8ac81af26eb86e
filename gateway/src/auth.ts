import { getOption, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { errors as jose, type JWTPayload, jwtVerify, SignJWT } from "jose";
import { http } from "#gen/google/api/annotations_pb.js";
import type { JwtConfig } from "./config.js";
import { challengeOf, writeErrorEnvelope } from "./errors.js";
import { headerOf, pathOf, sendJson, type HttpHandler, type NodeRequest } from "./http-handler.js";
import { requestContext, requestContextKey, type Principal } from "./request-context.js";

/** WRITE_SCOPES maps each proto package prefix to the scope its writes need. */
const WRITE_SCOPES: ReadonlyArray<readonly [prefix: string, scope: string]> = [
  ["shop.order.", "orders:write"],
  ["shop.payment.", "payments:write"],
  ["shop.inventory.", "inventory:write"],
];

/** ALL_WRITE_SCOPES is every scope the API knows; `npm run token` grants them all unless told otherwise. */
export const ALL_WRITE_SCOPES: readonly string[] = WRITE_SCOPES.map(([, scope]) => scope);

/** DEV_TOKEN_SCOPES is what the web UI's demo login gets: enough to place and cancel orders, nothing more. */
const DEV_TOKEN_SCOPES: readonly string[] = ["orders:write"];

/**
 * isWrite says whether a method changes state, from its contract: a `google.api.http` rule other than `get`, or,
 * without a rule, a client or bidi stream (ImportStock, ReserveStock). Reads (and server reflection) are open;
 * writes need a token.
 */
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
  return WRITE_SCOPES.find(([prefix]) => typeName.startsWith(prefix))?.[1] ?? "admin:write";
}

/** Auth checks bearer tokens for writes, for REST (authorizeWrite) and for RPCs (interceptor) alike. */
export interface Auth {
  /**
   * authorize returns the verified principal for a write, or undefined for a read (no token needed). It throws a
   * ConnectError: UNAUTHENTICATED (→ 401) for a missing, malformed, expired, wrongly signed or wrong-audience token,
   * PERMISSION_DENIED (→ 403) for a valid token without the method's scope.
   */
  authorize(method: DescMethod, authorization: string | undefined): Promise<Principal | undefined>;
  /** authorizeWrite is authorize for an HTTP request; it also records the principal in the request context. */
  authorizeWrite(req: NodeRequest, method: DescMethod): Promise<Principal | undefined>;
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
    const scopes = typeof payload["scope"] === "string" ? payload["scope"].split(" ").filter(Boolean) : [];
    const principal: Principal = Object.freeze({ subject: String(payload.sub), scopes: Object.freeze(scopes) });
    // requiredClaims makes exp present; jose checked it is in the future.
    if (typeof payload.exp === "number") verified.set(token, principal, payload.exp * 1000);
    return principal;
  };

  const authorize = async (method: DescMethod, authorization: string | undefined): Promise<Principal | undefined> => {
    if (!isWrite(method)) return undefined;
    const principal = await verify(authorization);
    const scope = requiredScope(method);
    if (!principal.scopes.includes(scope)) {
      throw new ConnectError(`token lacks the scope "${scope}" needed for ${method.parent.typeName}/${method.name}`, Code.PermissionDenied);
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
    async authorizeWrite(req, method) {
      const principal = await authorize(method, headerOf(req, "authorization"));
      if (principal) requestContext(req).principal = principal;
      return principal;
    },
    mint: (options) => signToken(jwt, options),
  };
}

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

/**
 * createDevTokenHandler serves `POST /auth/dev-token` for the web UI's demo login: a one-hour token for a demo
 * subject with DEV_TOKEN_SCOPES. Anyone who can reach it can write, so app.ts mounts it only when AUTH_DEV_TOKENS=true.
 */
export function createDevTokenHandler(auth: Auth): HttpHandler {
  return async (req, res) => {
    if (pathOf(req) !== "/auth/dev-token") return false;
    const { traceId, logger } = requestContext(req);
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      writeErrorEnvelope(res, new ConnectError("use POST /auth/dev-token", Code.Unimplemented), traceId);
      return true;
    }
    const subject = `demo-${crypto.randomUUID().slice(0, 8)}`;
    const ttlSeconds = 3600;
    const token = await auth.mint({ subject, scopes: DEV_TOKEN_SCOPES, ttlSeconds });
    logger.info({ subject }, "dev token issued");
    sendJson(res, 200, { token, subject, scopes: DEV_TOKEN_SCOPES, expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString() });
    return true;
  };
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
