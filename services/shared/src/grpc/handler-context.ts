import { Metadata, status } from "@grpc/grpc-js";
import type { ServerDuplexStream, ServerReadableStream, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";
import { ServiceError } from "../errors.js";

/** RequestMetadata reads request metadata as plain strings, keeping the raw grpc-js Metadata at hand. */
export interface RequestMetadata {
  /** get returns the first value of a text key (keys are case-insensitive), or undefined. */
  get(key: string): string | undefined;
  /** getAll returns every value of a key; binary (`-bin`) values come back base64-encoded. */
  getAll(key: string): string[];
  /** raw is the grpc-js Metadata as received. */
  readonly raw: Metadata;
}

/** HandlerContext is what every handler gets besides its request(s). */
export interface HandlerContext {
  /** method is the RPC's path, e.g. `/shop.inventory.v1.InventoryService/GetProduct`. */
  readonly method: string;
  readonly metadata: RequestMetadata;
  /** deadline is when the caller stops waiting, or undefined when it set none. */
  readonly deadline: Date | undefined;
  /**
   * signal aborts when the caller cancels or the deadline passes, and for server-streaming and bidi calls also when
   * the server stops; its reason is a CANCELLED/DEADLINE_EXCEEDED/UNAVAILABLE ServiceError. A streaming handler
   * ends when it aborts (its `finally` blocks run), so a stopping server can end every open stream at once.
   */
  readonly signal: AbortSignal;
  /** peer is the caller's address, e.g. `ipv4:127.0.0.1:53412`. */
  readonly peer: string;
  /** responseHeader is sent before the first response message (or with the status if there is none). */
  readonly responseHeader: Metadata;
  /** responseTrailer is sent with the status. */
  readonly responseTrailer: Metadata;
  /** call is the grpc-js call: pass the whole context as a client's `parent` to propagate deadline and cancellation. */
  readonly call: ServerCall;
}

/** ServerCall is any grpc-js server call; it is also what grpc-js accepts as a client call's `parent`. */
export type ServerCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

/** HandlerContextParts are a context and what the adapter needs beside it. */
export interface HandlerContextParts {
  ctx: HandlerContext;
  /** dispose stops listening to the call; call it when the RPC has finished. */
  dispose: () => void;
  /** abortReason is the CANCELLED/DEADLINE_EXCEEDED error once the call is cancelled, read without creating the signal. */
  abortReason: () => ServiceError | undefined;
  /** abort aborts `ctx.signal` from the server's side (a stream ended because the server is stopping). */
  abort: (reason: ServiceError) => void;
}

/**
 * createHandlerContext builds a context over a call and wires its abort signal to the call's 'cancelled' event.
 * The AbortController behind `ctx.signal` is created on first read (most unary handlers never read it, and an
 * AbortController per call showed in GetOrder profiles); a signal read after the cancel comes back already aborted
 * with the same reason, so handlers cannot tell the difference.
 */
export function createHandlerContext(call: ServerCall): HandlerContextParts {
  let controller: AbortController | undefined;
  let reason: ServiceError | undefined;
  const rawDeadline = call.getDeadline();
  const deadlineMs = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
  const deadline = Number.isFinite(deadlineMs) ? new Date(deadlineMs) : undefined;
  const abort = (why: ServiceError) => {
    if (reason !== undefined) return;
    reason = why;
    controller?.abort(reason);
  };
  // grpc-js emits 'cancelled' for both a client cancel and its own deadline timer; the clock tells them apart.
  const onCancelled = () => {
    const expired = deadline !== undefined && Date.now() >= deadline.getTime();
    abort(
      expired
        ? new ServiceError(status.DEADLINE_EXCEEDED, "deadline exceeded")
        : new ServiceError(status.CANCELLED, "cancelled by the client"),
    );
  };
  const events: EventEmitter = call; // the union of call types is not callable as such; all are EventEmitters
  events.once("cancelled", onCancelled);
  if (call.cancelled) onCancelled();
  const ctx: HandlerContext = {
    method: call.getPath(),
    metadata: requestMetadata(call.metadata),
    deadline,
    get signal(): AbortSignal {
      if (controller === undefined) {
        controller = new AbortController();
        if (reason !== undefined) controller.abort(reason);
      }
      return controller.signal;
    },
    peer: safePeer(call),
    responseHeader: new Metadata(),
    responseTrailer: new Metadata(),
    call,
  };
  return { ctx, dispose: () => events.removeListener("cancelled", onCancelled), abortReason: () => reason, abort };
}

function requestMetadata(raw: Metadata): RequestMetadata {
  const getAll = (key: string) =>
    raw.get(key).map((value) => (typeof value === "string" ? value : Buffer.from(value).toString("base64")));
  return { raw, getAll, get: (key) => getAll(key)[0] };
}

function safePeer(call: ServerCall): string {
  try {
    return call.getPeer();
  } catch {
    // getPeer throws once the underlying stream is gone; the peer is only informative.
    return "unknown";
  }
}
