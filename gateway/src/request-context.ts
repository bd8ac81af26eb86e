import { createContextKey } from "@connectrpc/connect";
import { pino } from "pino";
import type { Logger } from "#shared/logger.js";
import type { Principal } from "#shared/security/principal.js";
import { childOf, formatTraceparent, newTrace, parseTraceparent, type TraceContext } from "#shared/trace-context.js";
import type { Span, Spans } from "#shared/tracing/spans.js";
import { headerOf, pathOf, type NodeRequest } from "./http-handler.js";
import { startRequestSpan } from "./tracing.js";

/** RequestContext is what the gateway knows about one request, from the first link of the chain onwards. */
export interface RequestContext {
  /** traceId is the W3C trace id (32 hex): the caller's, from its `traceparent`, or a fresh one. */
  readonly traceId: string;
  /** traceparent is what the gateway forwards: the same trace, the gateway's own span id as the parent. */
  readonly traceparent: string;
  /** span is the request's SERVER span when tracing is on; its ids are the ones `traceparent` carries. */
  readonly span?: Span | undefined;
  /** logger is the gateway logger with `traceId` bound, so every line about this request carries it. */
  readonly logger: Logger;
  /** principal is the verified caller (the token's subject and scopes), once a call that needs a token was authorized. */
  principal?: Principal;
  /** route is the REST route template the request matched (`/api/v1/orders/{order_id}`), for the metrics. */
  route?: string;
  /** bodyTooLarge is set when Connect refused the request body as over the limit (rpc-error-gate.ts). */
  bodyTooLarge?: boolean;
}

const contexts = new WeakMap<object, RequestContext>();
const silent = pino({ level: "silent" });

/**
 * createRequestContext starts a request's context: trace from its `traceparent` or new, and a child logger with the
 * traceId bound. The child is built on first use: a successful request logs nothing at info, and building a pino
 * child per request (its bindings serialized up front) was a visible share of the gateway's CPU under load.
 */
export function createRequestContext(req: NodeRequest, logger: Logger, spans?: Spans): RequestContext {
  const incoming = parseTraceparent(headerOf(req, "traceparent"));
  const own: TraceContext = incoming === undefined ? newTrace() : childOf(incoming);
  const traceId = own.traceId;
  let child: Logger | undefined;
  const context: RequestContext = {
    traceId,
    traceparent: formatTraceparent(own),
    span: spans === undefined ? undefined : startRequestSpan(spans, req.method ?? "GET", pathOf(req), own, incoming),
    get logger() {
      child ??= logger.child({ traceId });
      return child;
    },
  };
  contexts.set(req, context);
  return context;
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
