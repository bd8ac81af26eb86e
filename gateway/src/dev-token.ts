import { Code, ConnectError } from "@connectrpc/connect";
import type { Auth } from "./auth.js";
import { httpError, writeErrorEnvelope } from "./errors.js";
import { pathOf, readBody, sendJson, type HttpHandler } from "./http-handler.js";
import { requestContext } from "./request-context.js";

/** DEV_TOKEN_SCOPES is what the web UI's demo login gets: enough to place and cancel orders, nothing more. */
const DEV_TOKEN_SCOPES: readonly string[] = ["orders:write"];

/** DEV_TOKEN_TTL_SECONDS is how long a demo token lasts (the UI fetches a new one after). */
const DEV_TOKEN_TTL_SECONDS = 3600;

/** SUBJECT is a customer id a demo token may be issued for: what the order service accepts as a customer_id, and safe as a header. */
const SUBJECT = /^[A-Za-z0-9._-]{1,64}$/;

/** DEV_TOKEN_BODY_LIMIT caps the request body: `{"subject": "..."}` is a few dozen bytes. */
const DEV_TOKEN_BODY_LIMIT = 1024;

/**
 * createDevTokenHandler serves `POST /auth/dev-token` for the web UI's demo login: a one-hour token with
 * DEV_TOKEN_SCOPES for the customer id in the JSON body `{"subject": "<customer id>"}` (1–64 of `[A-Za-z0-9._-]`,
 * else 400 naming `subject`), or for a random `demo-xxxxxxxx` subject without one. The token's subject is whose
 * orders its holder may see. Anyone who can reach it can act as any customer, so app.ts mounts it only when
 * AUTH_DEV_TOKENS=true; a real deployment signs in with an identity provider instead.
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
    let subject: string;
    try {
      subject = subjectOf((await readBody(req, DEV_TOKEN_BODY_LIMIT)).toString("utf8"));
    } catch (err) {
      writeErrorEnvelope(res, err, traceId);
      return true;
    }
    const token = await auth.mint({ subject, scopes: DEV_TOKEN_SCOPES, ttlSeconds: DEV_TOKEN_TTL_SECONDS });
    logger.info({ subject }, "dev token issued");
    sendJson(res, 200, {
      token,
      subject,
      scopes: DEV_TOKEN_SCOPES,
      expiresAt: new Date(Date.now() + DEV_TOKEN_TTL_SECONDS * 1000).toISOString(),
    });
    return true;
  };
}

/** subjectOf reads the requested subject from the body; an empty body, or one without `subject`, gets a demo subject. */
function subjectOf(body: string): string {
  if (body.trim() === "") return demoSubject();
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw httpError(400, Code.InvalidArgument, "request body is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw httpError(400, Code.InvalidArgument, 'request body must be a JSON object: {"subject": "<customer id>"}');
  }
  const subject = (parsed as Record<string, unknown>)["subject"];
  if (subject === undefined) return demoSubject();
  if (typeof subject !== "string" || !SUBJECT.test(subject)) {
    throw httpError(400, Code.InvalidArgument, "subject: must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
  }
  return subject;
}

function demoSubject(): string {
  return `demo-${crypto.randomUUID().slice(0, 8)}`;
}
