import {
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  RPC_SYSTEM_NAME_VALUE_GRPC,
} from "@opentelemetry/semantic-conventions";
import { toStatusName } from "../errors.js";
import { continueTrace, runWithTrace, type TraceContext } from "../trace-context.js";
import { SpanKind, SpanStatusCode, type Span, type Spans } from "./spans.js";

/**
 * The RPC spans of the kit, after OpenTelemetry's RPC semantic conventions (the stable `rpc.system.name`,
 * `rpc.method`, `rpc.status_code`, `server.address`/`server.port`): one SERVER span per call the adapter serves and
 * one CLIENT span per call the kit's client makes, named by the full method (`shop.order.v1.OrderService/GetOrder`).
 */

/**
 * SERVER_ERROR_CODES are the gRPC codes that mark a SERVER span as failed: the server's own failures. The others
 * (NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED, …) are the caller's, and a server answering them did its job.
 * https://opentelemetry.io/docs/specs/semconv/rpc/grpc/#grpc-status
 */
const SERVER_ERROR_CODES = new Set([2, 4, 12, 13, 14, 15]);

/** startServerSpan begins the span of one served call: `own` is the call's trace context, `caller` what it sent. */
export function startServerSpan(spans: Spans, method: string, own: TraceContext, caller: TraceContext | undefined): Span {
  return spans.start(
    SpanKind.SERVER,
    method,
    own,
    caller,
    { [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC, [ATTR_RPC_METHOD]: method },
    true,
  );
}

/**
 * startClientSpan begins the span of one outgoing call: `own` is what its `traceparent` carries, `current` the work
 * that makes the call (undefined or another trace: the span is a root of `own`'s trace).
 */
export function startClientSpan(spans: Spans, method: string, target: string, own: TraceContext, current: TraceContext | undefined): Span {
  const { address, port } = splitTarget(target);
  return spans.start(SpanKind.CLIENT, method, own, current?.traceId === own.traceId ? current : undefined, {
    [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC,
    [ATTR_RPC_METHOD]: method,
    [ATTR_SERVER_ADDRESS]: address,
    ...(port === undefined ? {} : { [ATTR_SERVER_PORT]: port }),
  });
}

/** endRpcSpan records the call's gRPC status on its span and ends it. */
export function endRpcSpan(span: Span, kind: "server" | "client", code: number, details?: string): void {
  span.setAttribute(ATTR_RPC_STATUS_CODE, toStatusName(code));
  if (code !== 0 && (kind === "client" || SERVER_ERROR_CODES.has(code))) {
    span.setStatus({ code: SpanStatusCode.ERROR, ...(details ? { message: details } : {}) });
  }
  span.end();
}

/** MessageOutcome is the gRPC status one stream message was answered with (0 for OK). */
export interface MessageOutcome {
  readonly code: number;
  readonly details?: string | undefined;
}

/**
 * serveMessage runs one message of a stream that carries its own `traceparent` (a ReserveStock reservation: the
 * stream is long-lived and shared by many orders, so its own trace is nobody's) in that message's trace, as a SERVER
 * span named by the method when tracing is on. A throw ends the span as INTERNAL and goes on to the stream.
 */
export function serveMessage<T>(
  spans: Spans | undefined,
  method: string,
  traceparent: string | undefined,
  run: () => T,
  outcome: (result: T) => MessageOutcome,
  attributes: Record<string, string> = {},
): T {
  const { own, parent } = continueTrace(traceparent || undefined);
  const span = spans && startServerSpan(spans, method, own, parent);
  span?.setAttributes(attributes);
  let result: T;
  try {
    result = runWithTrace(own, run);
  } catch (error) {
    if (span) endRpcSpan(span, "server", 13, error instanceof Error ? error.message : String(error));
    throw error;
  }
  if (span) {
    const { code, details } = outcome(result);
    endRpcSpan(span, "server", code, details);
  }
  return result;
}

/** splitTarget reads "host:port", "[v6]:port" or "dns:///host:port" into server.address and server.port. */
function splitTarget(target: string): { address: string; port: number | undefined } {
  const authority = target.replace(/^[a-z0-9+.-]+:\/\/[^/]*\//i, "");
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(authority);
  if (match === null) return { address: authority, port: undefined };
  return { address: (match[1] ?? match[2])!, port: match[3] === undefined ? undefined : Number(match[3]) };
}
