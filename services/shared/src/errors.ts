import { Code, ConnectError } from "@connectrpc/connect";

/*
 * Domain failures are Connect's own ConnectError with a Code (whose numbers are gRPC's status codes), built through
 * the helpers below so domain code reads as the rule it states. Whatever serves the handler turns the error into a
 * status exactly once: the grpc-js adapter with {@link toGrpcStatus}, connect-node and createRouterTransport natively.
 * Use `rawMessage` for the caller-facing text: `message` carries Connect's "[not_found] " prefix.
 */

/** invalidArgument names the field and the problem, so the message reads `lines[0].quantity: must be positive`. */
export function invalidArgument(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

/** notFound says what is missing: `notFound('product "sku-x"')` reads `product "sku-x" not found`. */
export function notFound(what: string): ConnectError {
  return new ConnectError(`${what} not found`, Code.NotFound);
}

/**
 * permissionDenied refuses a caller who may not do this (another customer's order), whatever the resource's state:
 * the message names the field when the request asked for something not the caller's (`customer_id: ...`).
 */
export function permissionDenied(message: string): ConnectError {
  return new ConnectError(message, Code.PermissionDenied);
}

/** failedPrecondition rejects a request the current state does not allow (out of stock, order already paid). */
export function failedPrecondition(message: string): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition);
}

/** unavailable reports a transient failure (a dependency down); safe to retry for idempotent methods. */
export function unavailable(message: string, cause?: unknown): ConnectError {
  return new ConnectError(message, Code.Unavailable, undefined, undefined, cause);
}

/** deadlineExceeded reports that an answer did not come in time. */
export function deadlineExceeded(message: string): ConnectError {
  return new ConnectError(message, Code.DeadlineExceeded);
}

/**
 * resourceExhausted sheds load: the server is at capacity now, try again in `retryAfterSec` seconds. The hint travels
 * as the `retry-after` trailer, which the gateway turns into HTTP 429 with Retry-After.
 */
export function resourceExhausted(message: string, retryAfterSec: number): ConnectError {
  return new ConnectError(message, Code.ResourceExhausted, { [RETRY_AFTER]: String(retryAfterSec) });
}

/** RETRY_AFTER is the metadata key of a RESOURCE_EXHAUSTED's retry hint, in whole seconds. */
export const RETRY_AFTER = "retry-after";

/** GrpcStatusError is the shape grpc-js gives a failed call: numeric `code`, `details`, trailing `metadata`. */
export interface GrpcStatusError extends Error {
  code: number;
  details: string;
  metadata?: unknown;
}

/** isGrpcStatusError recognises an error from a downstream gRPC call (grpc-js `ServiceError`). */
export function isGrpcStatusError(err: unknown): err is GrpcStatusError {
  if (typeof err !== "object" || err === null || err instanceof ConnectError) return false;
  const { code, details } = err as { code?: unknown; details?: unknown };
  // Node system errors also carry `code` (a string such as "ECONNREFUSED"); only a numeric status code counts.
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16 && typeof details === "string";
}

/**
 * codeOf is the status code an error carries: a ConnectError's code or a downstream grpc-js error's code; undefined
 * for anything else (a bug, which the caller must not mistake for a status).
 */
export function codeOf(err: unknown): Code | undefined {
  if (err instanceof ConnectError) return err.code;
  return isGrpcStatusError(err) ? (err.code as Code) : undefined;
}

/** GrpcStatus is what the adapter sends: a code and a message that is safe to show the caller. */
export interface GrpcStatus {
  /** code is the gRPC status code (Connect's Code numbers are the same). */
  code: number;
  details: string;
  /** internal is true when the real error was hidden behind the generic message and must be logged. */
  internal: boolean;
}

/** INTERNAL_MESSAGE is all a caller learns about an unexpected failure; the real error goes to the log only. */
const INTERNAL_MESSAGE = "internal error";

/**
 * toGrpcStatus is the one domain → gRPC error mapper. A ConnectError keeps its code and message; a downstream gRPC
 * error keeps its code and details (a downstream DEADLINE_EXCEEDED stays DEADLINE_EXCEEDED, so callers can tell a
 * slow dependency from a bug); anything else becomes INTERNAL "internal error", never leaking the original message.
 */
export function toGrpcStatus(err: unknown): GrpcStatus {
  if (err instanceof ConnectError) return { code: err.code, details: err.rawMessage, internal: false };
  if (isGrpcStatusError(err)) return { code: err.code, details: err.details, internal: false };
  return { code: Code.Internal, details: INTERNAL_MESSAGE, internal: true };
}

const STATUS_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** ERROR_STATUS_NAMES are the gRPC status names of failures (every code but OK), e.g. for an error body's schema. */
export const ERROR_STATUS_NAMES: readonly string[] = STATUS_NAMES.slice(1);

/** toStatusName spells a code the way the gRPC spec spells it, e.g. 3 → "INVALID_ARGUMENT". */
export function toStatusName(code: number): string {
  return STATUS_NAMES[code] ?? "UNKNOWN";
}

/** fromStatusName reads a code spelled the gRPC way ("NOT_FOUND" → Code.NotFound); undefined when unknown. */
export function fromStatusName(name: string): Code | undefined {
  const code = STATUS_NAMES.indexOf(name as (typeof STATUS_NAMES)[number]);
  return code > 0 ? (code as Code) : undefined;
}
