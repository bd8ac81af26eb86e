/**
 * The last look at an RPC error before Connect's protocol handlers write it: every error gets the request's trace
 * id as a `google.rpc.RequestInfo` detail (`request_id`), the way Connect and gRPC carry structured error data
 * (Connect's JSON error body lists it under `details`, with a readable `debug` copy; gRPC sends it in
 * `grpc-status-details-bin`). The REST envelope's `traceId` and this detail are the same id, as is the `trace-id`
 * header. A body over readMaxBytes is noted on the request context, for its HTTP status (connect-routes.ts). Some
 * errors never pass through an interceptor: a request message that does not decode, or a body over readMaxBytes, fail while the handler reads
 * the request, before the interceptor chain runs. Every protocol handler (Connect unary and streaming, gRPC,
 * gRPC-Web) aborts the call's handler context with the error it is about to serialise, and only then serialises it
 * (connect-es protocol-*\/handler-factory.ts); the adapter's request gate runs first for every call, so it can
 * listen for that abort. gateway/test/grpc-protocol.test.ts pins the behaviour per protocol, so a Connect upgrade
 * that changes the order fails there, not in production.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { RequestInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { requestContextKey, type RequestContext } from "./request-context.js";

/**
 * PARSE_BINARY is how connect-es words a request message protobuf could not decode. It reports it as INTERNAL
 * (createBinarySerialization); the bytes came from the caller, so it is INVALID_ARGUMENT, as grpc-go and grpc-java
 * report it.
 */
const PARSE_BINARY = "parse binary:";

/** rpcErrorGate is the Connect adapter's `requestGate`: it fixes up the error a call ends with (see the file). */
export function rpcErrorGate(context: HandlerContext): void {
  const { signal } = context;
  const request = context.values.get(requestContextKey);
  signal.addEventListener("abort", () => fixUp(signal.reason, request), { once: true });
}

/** READ_MAX_BYTES is how connect-es words a request body over readMaxBytes (RESOURCE_EXHAUSTED). */
const READ_MAX_BYTES = "larger than configured readMaxBytes";

/** withTraceDetail adds the trace id to an error as a google.rpc.RequestInfo detail, once. */
export function withTraceDetail(error: ConnectError, traceId: string | undefined): ConnectError {
  if (traceId === undefined) return error;
  const present = error.details.some((d) => ("desc" in d ? d.desc.typeName : d.type) === RequestInfoSchema.typeName);
  if (!present) error.details.push({ desc: RequestInfoSchema, value: create(RequestInfoSchema, { requestId: traceId }) });
  return error;
}

function fixUp(reason: unknown, request: RequestContext | undefined): void {
  // A call that succeeds is aborted without a ConnectError (a plain AbortError): nothing to do.
  if (!(reason instanceof ConnectError)) return;
  withTraceDetail(reason, request?.traceId);
  if (reason.isWireError) return;
  // Connect answers this with RESOURCE_EXHAUSTED's HTTP status, 429; connect-routes.ts makes a Connect unary answer 413.
  if (reason.code === Code.ResourceExhausted && reason.rawMessage.includes(READ_MAX_BYTES) && request) request.bodyTooLarge = true;
  if (reason.code === Code.Internal && reason.rawMessage.startsWith(PARSE_BINARY)) {
    // The protocol handler holds this very object and serialises it next: reclassify it in place.
    (reason as { code: Code }).code = Code.InvalidArgument;
  }
}
