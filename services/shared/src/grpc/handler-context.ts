import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { Metadata } from "@grpc/grpc-js";
import type { ServerDuplexStream, ServerReadableStream, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";
import type { Admission } from "../security/access-control.js";
import { callerKey, principalKey } from "../security/principal.js";

/** ServerCall is any grpc-js server call. */
export type ServerCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

/**
 * peerKey reads the caller's address from a handler's context: `ctx.values.get(peerKey)`, e.g.
 * `127.0.0.1:53412`. Connect's HandlerContext has no peer field, so the grpc-js adapter puts it in the context
 * values, the slot Connect gives transports for exactly this; elsewhere it reads "unknown".
 */
export const peerKey = createContextKey<string>("unknown", { description: "the caller's address" });

/** Headers gRPC itself owns: grpc-js writes them, so response metadata must not repeat them. */
const PROTOCOL_HEADERS = new Set([
  "content-type",
  "te",
  "grpc-status",
  "grpc-message",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-timeout",
]);

/**
 * GrpcHandlerContext is Connect's HandlerContext over one grpc-js server call, so a handler written for Connect runs
 * unchanged on grpc-js: request metadata as `requestHeader`, `timeoutMs()` from the call's deadline, `signal` aborted
 * with a ConnectError (CANCELLED or DEADLINE_EXCEEDED) when the client cancels or the deadline passes, and
 * `responseHeader` / `responseTrailer` sent as grpc-js metadata.
 *
 * It is built here rather than with Connect's `createHandlerContext` because that one is eager: per call it makes
 * two AbortControllers linked by listeners, a deadline timer and three Headers objects, about 60 µs on this machine
 * against the 70-100 µs a whole GetOrder costs. Here every part is created on first read: most unary handlers read
 * none of them. A signal first read after the cancel comes back already aborted with the same reason, so handlers
 * cannot tell the difference. The other methods are the adapter's, not the handler's.
 */
export class GrpcHandlerContext implements HandlerContext {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  readonly service: DescService;
  readonly timeoutMs: () => number | undefined;
  #controller: AbortController | undefined;
  #reason: ConnectError | undefined;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;
  #values: ContextValues | undefined;
  #admission: Admission | undefined;
  readonly #deadlineMs: number | undefined;
  readonly #onCancelled = () => this.#cancelled();

  constructor(
    private readonly call: ServerCall,
    readonly method: DescMethod,
  ) {
    this.service = method.parent;
    const raw = call.getDeadline();
    const deadlineMs = raw instanceof Date ? raw.getTime() : raw;
    this.#deadlineMs = Number.isFinite(deadlineMs) ? deadlineMs : undefined;
    // An arrow, like Connect's own, so `const { timeoutMs } = ctx` still works.
    this.timeoutMs = () => (this.#deadlineMs === undefined ? undefined : this.#deadlineMs - Date.now());
    (call as EventEmitter).once("cancelled", this.#onCancelled);
    if (call.cancelled) this.#cancelled();
  }

  /** url is the RPC's path, `/<package>.<Service>/<Method>`: grpc-js does not hand the server a full URL. */
  get url(): string {
    return `/${this.service.typeName}/${this.method.name}`;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get requestHeader(): Headers {
    this.#requestHeader ??= toHeaders(this.call.metadata);
    return this.#requestHeader;
  }

  get responseHeader(): Headers {
    this.#responseHeader ??= new Headers();
    return this.#responseHeader;
  }

  get responseTrailer(): Headers {
    this.#responseTrailer ??= new Headers();
    return this.#responseTrailer;
  }

  /**
   * values carry what the transport knows and Connect's context has no field for: the peer's address
   * (`peerKey`), and, once the kit admitted the call, the caller's identity (`callerKey`) and the end user it acts
   * for (`principalKey`).
   */
  get values(): ContextValues {
    if (this.#values === undefined) {
      this.#values = createContextValues().set(peerKey, peerOf(this.call));
      if (this.#admission !== undefined) {
        this.#values.set(callerKey, this.#admission.caller).set(principalKey, this.#admission.principal);
      }
    }
    return this.#values;
  }

  /** admitted records the kit's admission of the call, for `values`. */
  admitted(admission: Admission): void {
    this.#admission = admission;
    this.#values?.set(callerKey, admission.caller).set(principalKey, admission.principal);
  }

  /** callerIdentity is the admitted caller's SPIFFE ID, for log lines; undefined before admission or over plaintext. */
  get callerIdentity(): string | undefined {
    return this.#admission?.caller.identity;
  }

  /** abortReason is why the call was cancelled (CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE ...), read without creating the signal. */
  abortReason(): ConnectError | undefined {
    return this.#reason;
  }

  /** abort ends the handler's work with `reason` (the first reason wins), as a cancel does. */
  abort(reason: ConnectError): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  /**
   * complete stops listening to the call and, as Connect does when an RPC completes, aborts a signal the handler
   * read, so work it left running on that signal stops too.
   */
  complete(): void {
    (this.call as EventEmitter).removeListener("cancelled", this.#onCancelled);
    if (this.#controller !== undefined && !this.#controller.signal.aborted) this.#controller.abort();
  }

  /** headerMetadata is `responseHeader` as grpc-js metadata, or undefined when the handler set none. */
  headerMetadata(): Metadata | undefined {
    return toMetadata(this.#responseHeader);
  }

  /** trailerMetadata is `responseTrailer` plus `extra` (an error's metadata) as grpc-js metadata, or undefined if empty. */
  trailerMetadata(extra?: Headers): Metadata | undefined {
    if (extra === undefined) return toMetadata(this.#responseTrailer);
    const merged = new Headers(this.#responseTrailer);
    for (const [key, value] of extra) merged.set(key, value);
    return toMetadata(merged);
  }

  #cancelled(): void {
    // grpc-js emits 'cancelled' for both a client cancel and its own deadline timer; the clock tells them apart. The
    // server's copy of the deadline starts when the request arrives (grpc-timeout is relative), later than the
    // client's by the request's transit and queueing; a client whose deadline passed cancels (RST_STREAM) before the
    // server's copy runs out, so a cancel within DEADLINE_SKEW_MS of it is the deadline, not the caller's choice.
    const expired = this.#deadlineMs !== undefined && Date.now() >= this.#deadlineMs - DEADLINE_SKEW_MS;
    this.abort(
      expired ? new ConnectError("deadline exceeded", Code.DeadlineExceeded) : new ConnectError("cancelled by the client", Code.Canceled),
    );
  }
}

/**
 * DEADLINE_SKEW_MS is how much earlier than its own copy of the deadline the server may hear the client's cancel
 * for that deadline. A CI run saw the cancel arrive first on a loaded machine and report CANCELLED.
 */
const DEADLINE_SKEW_MS = 50;

/** toHeaders reads grpc-js metadata as Fetch Headers; binary (`-bin`) values become base64, as Connect carries them. */
function toHeaders(metadata: Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) headers.append(key, typeof value === "string" ? value : Buffer.from(value).toString("base64"));
  }
  return headers;
}

/**
 * toMetadata writes Headers as grpc-js metadata, leaving out what gRPC itself writes. `-bin` values are base64
 * (Connect's encodeBinaryHeader) and go out as bytes. An entry grpc-js refuses (a non-ASCII text value) is left out
 * rather than failing a call that has already done its work.
 */
function toMetadata(headers: Headers | undefined): Metadata | undefined {
  if (headers === undefined) return undefined;
  let metadata: Metadata | undefined;
  headers.forEach((value, key) => {
    if (PROTOCOL_HEADERS.has(key)) return;
    metadata ??= new Metadata();
    try {
      metadata.set(key, key.endsWith("-bin") ? Buffer.from(value, "base64") : value);
    } catch {
      // grpc-js validates keys and values; see above.
    }
  });
  return metadata;
}

/** peerOf is the caller's address; grpc-js throws once the underlying stream is gone, and the peer is only informative. */
export function peerOf(call: ServerCall): string {
  try {
    return call.getPeer();
  } catch {
    return "unknown";
  }
}
