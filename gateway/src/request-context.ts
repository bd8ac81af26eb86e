import { randomFillSync } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";
import { pino } from "pino";
import type { Logger } from "#shared/logger.js";
import { headerOf, type NodeRequest } from "./http-handler.js";

/** Principal is a verified caller: the token's subject and the scopes it grants. */
export interface Principal {
  readonly subject: string;
  readonly scopes: readonly string[];
}

/** RequestContext is what the gateway knows about one request, from the first link of the chain onwards. */
export interface RequestContext {
  /** traceId is the W3C trace id (32 hex): the caller's, from its `traceparent`, or a fresh one. */
  readonly traceId: string;
  /** traceparent is what the gateway forwards: the same trace, the gateway's own span id as the parent. */
  readonly traceparent: string;
  /** logger is the gateway logger with `traceId` bound, so every line about this request carries it. */
  readonly logger: Logger;
  /** principal is the verified caller, once a write was authorized. */
  principal?: Principal;
}

const contexts = new WeakMap<object, RequestContext>();
const silent = pino({ level: "silent" });

// https://www.w3.org/TR/trace-context/#traceparent-header-field-values: version-traceid-parentid-flags, lowercase
// hex; version ff and all-zero ids are invalid. Later versions may append fields, which we ignore.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** ParsedTraceparent is a valid incoming traceparent. */
export interface ParsedTraceparent {
  traceId: string;
  parentId: string;
  flags: string;
}

/** parseTraceparent validates a `traceparent` header; an invalid one is ignored (a new trace starts), per the spec. */
function parseTraceparent(value: string | undefined): ParsedTraceparent | undefined {
  const match = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return { traceId, parentId, flags };
}

/**
 * createRequestContext starts a request's context: trace from its `traceparent` or new, and a child logger with the
 * traceId bound. The child is built on first use: a successful request logs nothing at info, and building a pino
 * child per request (its bindings serialized up front) was a visible share of the gateway's CPU under load.
 */
export function createRequestContext(req: NodeRequest, logger: Logger): RequestContext {
  const incoming = parseTraceparent(headerOf(req, "traceparent"));
  const traceId = incoming?.traceId ?? randomHex(16);
  const spanId = randomHex(8);
  let child: Logger | undefined;
  const context: RequestContext = {
    traceId,
    traceparent: `00-${traceId}-${spanId}-${incoming?.flags ?? "01"}`,
    get logger() {
      return (child ??= logger.child({ traceId }));
    },
  };
  contexts.set(req, context);
  return context;
}

// Trace and span ids come from a pool of random bytes refilled 4 KiB at a time: one randomFillSync per ~170
// requests instead of two randomBytes calls (two buffers) per request. They are ids, not secrets.
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString("hex", poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

/**
 * requestContext returns the context of a request. A request that somehow skipped the chain's first link (a unit
 * test calling a handler directly) gets a fresh one with a silent logger rather than a crash.
 */
export function requestContext(req: NodeRequest): RequestContext {
  return contexts.get(req) ?? createRequestContext(req, silent);
}

/** requestContextKey carries the RequestContext into Connect handlers and interceptors (contextValues). */
export const requestContextKey = createContextKey<RequestContext | undefined>(undefined, { description: "gateway request context" });
