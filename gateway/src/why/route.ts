/**
 * `GET /api/v1/orders/{order_id}/timeline`: the "why is my order stuck?" timeline as JSON (timeline.ts), for
 * `npm run why` and the web UI's timeline page. It needs a verified token, and shows an order to whoever may read it
 * (the order service's rule, applied to the GetOrder it makes with the caller's principal): its customer, or a token
 * with the admin scope. So an unknown order is 404 for an admin and 403 for a customer, as for GetOrder itself.
 */
import { Code } from "@connectrpc/connect";
import type { Admin, Kafka } from "kafkajs";
import type { Logger } from "pino";
import type { Auth } from "../auth.js";
import type { Backends } from "../backends.js";
import { httpError, writeErrorEnvelope } from "../errors.js";
import { headerOf, pathOf, sendJson, type HttpHandler } from "../http-handler.js";
import { requestContext } from "../request-context.js";
import type { DeadLetterFacts } from "./model.js";
import { createGatewaySources } from "./sources.js";
import { buildTimeline } from "./timeline.js";

/** TIMELINE_PATH matches the route; the id is checked on its own so a malformed one is a 400 naming the field. */
const TIMELINE_PATH = /^\/api\/v1\/orders\/([^/]*)\/timeline$/;

/** ORDER_ID is what an order id may look like here: the order service's ids are UUIDs; this only keeps URLs and keys sane. */
const ORDER_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface TimelineRouteDeps {
  readonly auth: Auth;
  readonly backends: Backends;
  readonly kafka: Kafka;
  readonly groupIds: readonly string[];
  readonly zipkinUrl: string;
  /** deadLetters returns the dead letters whose key is the subject (the ops panel's follower of the `.dlq` topics). */
  deadLetters(subject: string): Promise<DeadLetterFacts[]>;
  readonly logger: Logger;
  /** timeoutMs bounds each source (default 3 s): a dead source costs the timeline that much, never more. */
  readonly timeoutMs?: number;
}

export type TimelineHandler = HttpHandler & { close(): Promise<void> };

/** createTimelineHandler serves the timeline route; `close()` drops its Kafka admin connection. */
export function createTimelineHandler(deps: TimelineRouteDeps): TimelineHandler {
  const timeoutMs = deps.timeoutMs ?? 3_000;
  let admin: Promise<Admin> | undefined;
  const connectedAdmin = (): Promise<Admin> => {
    admin ??= (async () => {
      const created = deps.kafka.admin();
      await created.connect();
      return created;
    })().catch((error: unknown) => {
      admin = undefined; // the next request tries again
      throw error;
    });
    return admin;
  };

  const handler: HttpHandler = async (req, res) => {
    const match = TIMELINE_PATH.exec(pathOf(req));
    if (match === null) return false;
    const { traceId, logger } = requestContext(req);
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.setHeader("allow", "GET, HEAD");
        throw httpError(405, Code.Unimplemented, `${req.method} ${pathOf(req)}: only GET is allowed`);
      }
      const context = requestContext(req);
      context.route = "/api/v1/orders/{order_id}/timeline";
      context.principal = await deps.auth.verify(headerOf(req, "authorization"));
      const orderId = decoded(match[1] ?? "");
      if (orderId === undefined || !ORDER_ID.test(orderId)) {
        throw httpError(400, Code.InvalidArgument, "order_id: must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'");
      }
      const sources = createGatewaySources(
        {
          backends: deps.backends,
          groupIds: deps.groupIds,
          zipkinUrl: deps.zipkinUrl,
          admin: connectedAdmin,
          dropAdmin: () => {
            const stale = admin;
            admin = undefined;
            void stale?.then((connected) => connected.disconnect()).catch(() => undefined);
          },
          deadLetters: deps.deadLetters,
          timeoutMs,
        },
        req,
      );
      const timeline = await buildTimeline(orderId, sources);
      const down = timeline.sources.filter((source) => !source.ok);
      if (down.length > 0) logger.info({ orderId, sources: down }, "order timeline built without some sources");
      sendJson(res, 200, timeline, { "cache-control": "no-store" });
    } catch (error) {
      writeErrorEnvelope(res, error, traceId);
    }
    return true;
  };
  return Object.assign(handler, {
    close: async () => {
      const connected = admin;
      admin = undefined;
      await (await connected?.catch(() => undefined))?.disconnect().catch(() => undefined);
    },
  });
}

/** decoded is a path segment, percent-decoded; undefined when its escapes are malformed. */
function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
