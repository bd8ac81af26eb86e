import { Metadata, status } from "@grpc/grpc-js";

/**
 * ServiceError is a domain failure that knows its gRPC status. Domain rules throw it (through the helpers below);
 * the gRPC adapter turns it into a status exactly once, in {@link toGrpcStatus}.
 */
export class ServiceError extends Error {
  override readonly name = "ServiceError";
  /** status is the gRPC status code the caller receives. */
  readonly status: status;
  /** field is the offending request field for INVALID_ARGUMENT, e.g. `lines[0].quantity`. */
  readonly field: string | undefined;

  constructor(code: status, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = code;
    this.field = options?.field;
  }
}

/** invalidArgument names the field and the problem, so the message reads `lines[0].quantity: must be positive`. */
export function invalidArgument(field: string, problem: string): ServiceError {
  return new ServiceError(status.INVALID_ARGUMENT, `${field}: ${problem}`, { field });
}

/** notFound says what is missing: `notFound('product "sku-x"')` reads `product "sku-x" not found`. */
export function notFound(what: string): ServiceError {
  return new ServiceError(status.NOT_FOUND, `${what} not found`);
}

/** failedPrecondition rejects a request the current state does not allow (out of stock, order already paid). */
export function failedPrecondition(message: string): ServiceError {
  return new ServiceError(status.FAILED_PRECONDITION, message);
}

/** alreadyExists rejects creating something that exists (e.g. an idempotency key reused with another body). */
export function alreadyExists(message: string): ServiceError {
  return new ServiceError(status.ALREADY_EXISTS, message);
}

/** aborted reports a concurrency conflict the caller may retry at a higher level. */
export function aborted(message: string): ServiceError {
  return new ServiceError(status.ABORTED, message);
}

/** unavailable reports a transient failure (a dependency down); safe to retry for idempotent methods. */
export function unavailable(message: string): ServiceError {
  return new ServiceError(status.UNAVAILABLE, message);
}

/** permissionDenied rejects a caller that is known but not allowed. */
export function permissionDenied(message: string): ServiceError {
  return new ServiceError(status.PERMISSION_DENIED, message);
}

/** unauthenticated rejects a caller without valid credentials. */
export function unauthenticated(message: string): ServiceError {
  return new ServiceError(status.UNAUTHENTICATED, message);
}

/** GrpcStatusError is the shape grpc-js gives a failed call: numeric `code`, `details`, trailing `metadata`. */
export interface GrpcStatusError extends Error {
  code: status;
  details: string;
  metadata?: Metadata;
}

/** isGrpcStatusError recognises an error from a downstream gRPC call (grpc-js `ServiceError`). */
export function isGrpcStatusError(err: unknown): err is GrpcStatusError {
  if (typeof err !== "object" || err === null) return false;
  const { code, details } = err as { code?: unknown; details?: unknown };
  // Node system errors also carry `code` (a string such as "ECONNREFUSED"); only a numeric status code counts.
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16 && typeof details === "string";
}

/** GrpcStatus is what the adapter sends: a code and a message that is safe to show the caller. */
export interface GrpcStatus {
  code: status;
  details: string;
  /** internal is true when the real error was hidden behind the generic message and must be logged. */
  internal: boolean;
}

/** INTERNAL_MESSAGE is all a caller learns about an unexpected failure; the real error goes to the log only. */
export const INTERNAL_MESSAGE = "internal error";

/**
 * toGrpcStatus is the one domain → gRPC error mapper. A ServiceError keeps its code and message; a downstream gRPC
 * error keeps its code and details (a downstream DEADLINE_EXCEEDED stays DEADLINE_EXCEEDED, so callers can tell a
 * slow dependency from a bug); anything else becomes INTERNAL "internal error", never leaking the original message.
 */
export function toGrpcStatus(err: unknown): GrpcStatus {
  if (err instanceof ServiceError) return { code: err.status, details: err.message, internal: false };
  if (isGrpcStatusError(err)) return { code: err.code, details: err.details, internal: false };
  return { code: status.INTERNAL, details: INTERNAL_MESSAGE, internal: true };
}

/** toStatusName spells a code the way the gRPC spec and Connect do, e.g. 3 → "INVALID_ARGUMENT". */
export function toStatusName(code: number): string {
  // grpc-js's `status` is a numeric TypeScript enum, so it carries the reverse mapping code → name.
  const name = (status as unknown as Record<number, string | undefined>)[code];
  return name ?? "UNKNOWN";
}
