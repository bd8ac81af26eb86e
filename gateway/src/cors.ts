import { Code, ConnectError, cors as connectCors } from "@connectrpc/connect";
import { writeErrorEnvelope } from "./errors.js";
import { headerOf, type HttpHandler, type NodeRequest } from "./http-handler.js";
import { writeHead } from "./node-http.js";
import { requestContext } from "./request-context.js";

/** ALLOWED_METHODS are Connect's (GET, POST) plus the verbs REST routes may use. */
const ALLOWED_METHODS = [...new Set([...connectCors.allowedMethods, "PUT", "PATCH", "DELETE", "OPTIONS"])];
/** ALLOWED_HEADERS are Connect's request headers plus ours: bearer tokens, idempotency keys, trace context. */
const ALLOWED_HEADERS = [...new Set([...connectCors.allowedHeaders, "Authorization", "Idempotency-Key", "Traceparent", "Accept"])];
/** EXPOSED_HEADERS are Connect's response headers plus what our clients read: trace id, created resource, versions. */
const EXPOSED_HEADERS = [
  ...new Set([...connectCors.exposedHeaders, "Trace-Id", "Location", "Deprecation", "Sunset", "Link", "WWW-Authenticate"]),
];

/** PREFLIGHT_MAX_AGE_SECONDS lets browsers cache a preflight for two hours (Chromium's cap). */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/**
 * createCorsHandler applies the origin allowlist. A request from an allowed origin (or the gateway's own origin)
 * gets `Access-Control-Allow-Origin` and the exposed headers; its preflight is answered 204 here. A preflight from
 * any other origin is refused with a 403 envelope, and its other requests get no CORS headers, so the browser
 * keeps the answer from the script (the server cannot stop a cross-origin request from being sent; only the
 * token check can refuse a write).
 */
export function createCorsHandler(allowedOrigins: readonly string[]): HttpHandler {
  const allowed = new Set(allowedOrigins);
  return async (req, res) => {
    const origin = headerOf(req, "origin");
    if (origin === undefined) return false;
    const preflight = req.method === "OPTIONS" && headerOf(req, "access-control-request-method") !== undefined;
    res.setHeader("vary", "Origin");
    if (!allowed.has(origin) && !isSameOrigin(req, origin)) {
      if (!preflight) return false;
      const { traceId, logger } = requestContext(req);
      logger.info({ origin }, "cors preflight refused");
      writeErrorEnvelope(res, new ConnectError(`origin ${origin} is not allowed`, Code.PermissionDenied), traceId);
      return true;
    }
    res.setHeader("access-control-allow-origin", origin);
    if (!preflight) {
      res.setHeader("access-control-expose-headers", EXPOSED_HEADERS.join(", "));
      return false;
    }
    writeHead(res, 204, {
      "access-control-allow-methods": ALLOWED_METHODS.join(", "),
      "access-control-allow-headers": ALLOWED_HEADERS.join(", "),
      "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
    });
    res.end();
    return true;
  };
}

/** isSameOrigin is true when the page was served by this gateway (whatever host and port it runs on). */
function isSameOrigin(req: NodeRequest, origin: string): boolean {
  const host = headerOf(req, ":authority") ?? headerOf(req, "host");
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}
