import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import { RETRY_AFTER, toStatusName } from "#shared/errors.js";
import { writeHead, type NodeResponse } from "./node-http.js";
import { withTraceDetail } from "./rpc-error-gate.js";

/** ErrorEnvelope is the one error body every HTTP (non-RPC) answer of the gateway uses. */
export interface ErrorEnvelope {
  /** code is the gRPC status name, e.g. `NOT_FOUND`, `INVALID_ARGUMENT`. */
  code: string;
  message: string;
  /** traceId is the request's W3C trace id, also in the `trace-id` header and in every log line of the request. */
  traceId: string;
  details: ErrorDetail[];
}

/** ErrorDetail is one google.rpc detail as it came from the backend: its type name and base64 bytes. */
export interface ErrorDetail {
  type: string;
  value: string;
}

/**
 * HttpStatusError is a ConnectError that wants a specific HTTP status instead of its code's default (413, 406...).
 * Test for it with {@link isHttpStatusError}, not instanceof: ConnectError's own `Symbol.hasInstance` (which lets
 * errors cross package copies) answers for subclasses too, so `instanceof HttpStatusError` is true of any
 * ConnectError. For the same reason it keeps the name "ConnectError".
 */
export class HttpStatusError extends ConnectError {
  constructor(
    readonly httpStatus: number,
    code: Code,
    message: string,
  ) {
    super(message, code);
  }
}

/** isHttpStatusError tells an HttpStatusError (a ConnectError with an explicit HTTP status) from a plain one. */
function isHttpStatusError(err: unknown): err is HttpStatusError {
  return err instanceof ConnectError && typeof (err as Partial<HttpStatusError>).httpStatus === "number";
}

/** payloadTooLarge is the body-limit rejection: RESOURCE_EXHAUSTED, answered over HTTP as 413. */
export function payloadTooLarge(maxBytes: number): HttpStatusError {
  return new HttpStatusError(413, Code.ResourceExhausted, `request body exceeds the limit of ${maxBytes} bytes`);
}

/** httpError builds an error with an explicit HTTP status, e.g. `httpError(406, Code.InvalidArgument, "...")`. */
export function httpError(httpStatus: number, code: Code, message: string): HttpStatusError {
  return new HttpStatusError(httpStatus, code, message);
}

/** challengeOf is the `WWW-Authenticate` value for a 401 with this message (RFC 6750 §3). */
export function challengeOf(message: string): string {
  return message.startsWith("missing") ? "Bearer" : `Bearer error="invalid_token"`;
}

/** INTERNAL_MESSAGE is all a caller learns about an unexpected failure; the real error is logged. */
const INTERNAL_MESSAGE = "internal error";

/**
 * toConnectError is the one gateway error normaliser. A ConnectError (from a backend, or the gateway's own
 * rejections) keeps its code and message; a JSON SyntaxError is the caller's fault (INVALID_ARGUMENT); anything else is INTERNAL with a generic message, and
 * `internal` tells the caller to log the original.
 */
export function toConnectError(err: unknown): { error: ConnectError; internal: boolean } {
  if (err instanceof ConnectError) return { error: err, internal: false };
  if (err instanceof SyntaxError)
    return { error: new ConnectError(`malformed JSON: ${err.message}`, Code.InvalidArgument), internal: false };
  return { error: new ConnectError(INTERNAL_MESSAGE, Code.Internal, undefined, undefined, err), internal: true };
}

/**
 * codeName spells a Connect code the gRPC way: Code.NotFound → "NOT_FOUND", Code.Canceled → "CANCELLED" (Connect
 * spells that one "canceled"; the envelope speaks gRPC's names, as the services' logs and span attributes do).
 */
export function codeName(code: Code): string {
  return toStatusName(code);
}

/** httpStatusOf maps an error to its HTTP status with Connect's code → HTTP table (409, 404, 503...). */
function httpStatusOf(error: ConnectError): number {
  return isHttpStatusError(error) ? error.httpStatus : codeToHttpStatus(error.code);
}

/** toErrorEnvelope maps any error to `{ status, body }`: the HTTP status and the one error envelope. */
export function toErrorEnvelope(err: unknown, traceId: string): { status: number; body: ErrorEnvelope; internal: boolean } {
  const { error, internal } = toConnectError(err);
  const details = error.details.map((detail) =>
    "desc" in detail
      ? { type: detail.desc.typeName, value: "" }
      : { type: detail.type, value: Buffer.from(detail.value).toString("base64") },
  );
  return {
    status: httpStatusOf(error),
    body: { code: codeName(error.code), message: error.rawMessage, traceId, details },
    internal,
  };
}

/** retryAfterOf is a 429's Retry-After: the backend's `retry-after` hint in whole seconds (a shed load), else 1. */
function retryAfterOf(err: unknown): string {
  const hint = toConnectError(err).error.metadata.get(RETRY_AFTER);
  return hint !== null && /^\d{1,6}$/.test(hint) ? hint : "1";
}

/**
 * writeErrorEnvelope answers a request with the error envelope (or, when a response is already under way, as an
 * SSE stream is, ends it: the status line is gone). A 401 carries `WWW-Authenticate: Bearer` (RFC 6750), a 429
 * (RESOURCE_EXHAUSTED: load shed) `Retry-After`.
 */
export function writeErrorEnvelope(res: NodeResponse, err: unknown, traceId: string): ErrorEnvelope {
  const { status, body } = toErrorEnvelope(err, traceId);
  if (res.headersSent) {
    res.end();
    return body;
  }
  const headers: Record<string, string> = { "trace-id": traceId };
  if (status === 401) {
    headers["www-authenticate"] = challengeOf(body.message);
  }
  if (status === 429) headers["retry-after"] = retryAfterOf(err);
  const text = JSON.stringify(body);
  writeHead(res, status, { ...headers, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
  return body;
}

/**
 * writeConnectError answers a Connect unary call with Connect's error body (`{code, message, details}`, the codes
 * spelled as Connect spells them) and the HTTP status of `err` (an HttpStatusError's own, e.g. 413, else Connect's
 * table) and the trace id as a RequestInfo detail, for rejections made before the Connect adapter sees the call.
 */
export function writeConnectError(res: NodeResponse, err: unknown, traceId: string): void {
  const error = withTraceDetail(toConnectError(err).error, traceId);
  const text = JSON.stringify(errorToJson(error, undefined));
  writeHead(res, httpStatusOf(error), { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
