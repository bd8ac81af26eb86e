import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from "@opentelemetry/semantic-conventions";
import { childOf, formatTraceparent, newTrace, parseTraceparent, type TraceContext } from "#shared/trace-context.js";
import { endRpcSpan, startClientSpan } from "#shared/tracing/rpc-spans.js";
import { SpanKind, SpanStatusCode, type Span, type Spans } from "#shared/tracing/spans.js";

/**
 * The gateway's spans (tracing on): one SERVER span per HTTP request, whatever serves it (REST, Connect, gRPC-Web,
 * gRPC), and one CLIENT span per call to a backend, on both paths the gateway calls them by: the Connect transport
 * (an interceptor, since connect-node makes no spans and sends no `traceparent` of its own) and the lean unary path
 * (grpc-unary.ts). As in the services, each span has the ids of the kit's trace context: the SERVER span is the
 * request's context (its trace id is the `trace-id` header and the error envelope's `traceId`), each CLIENT span is
 * the `traceparent` that call sends.
 */

/** startRequestSpan begins a request's SERVER span: `own` is the request's trace context, `caller` what it sent. */
export function startRequestSpan(spans: Spans, method: string, path: string, own: TraceContext, caller: TraceContext | undefined): Span {
  // Named by method alone until a route names it (nameRequestSpan): a raw path would make one span name per order id.
  return spans.start(SpanKind.SERVER, method, own, caller, { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_PATH]: path }, true);
}

/** nameRequestSpan names a request's span by what serves it: a REST route template or an RPC's full method name. */
export function nameRequestSpan(span: Span | undefined, name: string, route?: string): void {
  if (span === undefined) return;
  span.updateName(name);
  if (route !== undefined) span.setAttribute(ATTR_HTTP_ROUTE, route);
}

/** endRequestSpan records the response status (5xx is the gateway's failure; a cut-off response is one too) and ends it. */
export function endRequestSpan(span: Span, statusCode: number, finished: boolean): void {
  span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode);
  if (statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  else if (!finished) span.setStatus({ code: SpanStatusCode.ERROR, message: "response not finished" });
  span.end();
}

/**
 * beginBackendCall starts the CLIENT span of one backend call from the `traceparent` the gateway forwards (its
 * request's span): the call gets a child of it, written back into `setTraceparent`, and the span has that child's ids.
 */
export function beginBackendCall(
  spans: Spans,
  method: string,
  address: string,
  forwarded: string | null | undefined,
  setTraceparent: (value: string) => void,
): Span {
  const parent = parseTraceparent(forwarded ?? undefined);
  const own = parent === undefined ? newTrace() : childOf(parent);
  setTraceparent(formatTraceparent(own));
  return startClientSpan(spans, method, address, own, parent);
}

/** endBackendCall ends a CLIENT span with the call's outcome: OK, or the ConnectError's code (gRPC's numbering). */
export function endBackendCall(span: Span, error?: unknown): void {
  if (error === undefined) {
    endRpcSpan(span, "client", 0);
    return;
  }
  const connectError = ConnectError.from(error);
  endRpcSpan(span, "client", connectError.code, connectError.rawMessage);
}

/** clientSpanInterceptor gives every call through a Connect transport to `address` a CLIENT span. */
export function clientSpanInterceptor(spans: Spans, address: string): Interceptor {
  return (next) => async (req) => {
    const span = beginBackendCall(
      spans,
      `${req.method.parent.typeName}/${req.method.name}`,
      address,
      req.header.get("traceparent"),
      (value) => req.header.set("traceparent", value),
    );
    let res: UnaryResponse | StreamResponse;
    try {
      res = await next(req);
    } catch (error) {
      endBackendCall(span, error);
      throw error;
    }
    if (!res.stream) {
      endBackendCall(span);
      return res;
    }
    return { ...res, message: endWhenDone(res.message, span) };
  };
}

/**
 * endWhenDone passes a response stream through and ends the span when it does: completed (OK), failed (its code) or
 * left early by the reader (CANCELLED, which is what the backend then sees).
 */
async function* endWhenDone<M>(messages: AsyncIterable<M>, span: Span): AsyncGenerator<M> {
  let outcome: unknown = new ConnectError("stream left by the reader", Code.Canceled);
  try {
    for await (const message of messages) yield message;
    outcome = undefined;
  } catch (error) {
    outcome = error;
    throw error;
  } finally {
    endBackendCall(span, outcome);
  }
}
