import { status } from "@grpc/grpc-js";
import type {
  Server,
  ServerDuplexStream,
  ServerErrorResponse,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedHandleCall,
  sendUnaryData,
} from "@grpc/grpc-js";
import type { DescMethod, DescService, Message } from "@bufbuild/protobuf";
import type { Readable } from "node:stream";
import { ServiceError, toGrpcStatus, toStatusName } from "../errors.js";
import { runInTrace } from "../trace-context.js";
import { createHandlerContext, type HandlerContext, type ServerCall } from "./handler-context.js";
import type { RpcLogger } from "./rpc-logger.js";
import { createServiceDefinition, isBadRequest, serializeMessage, type DefinitionOptions } from "./service-definition.js";
import type { ServiceImpl } from "./service-impl.js";

/** AddServiceOptions tune one registration. */
export interface AddServiceOptions extends DefinitionOptions {
  /** logger gets one line per finished RPC, and the stack of every INTERNAL error. */
  logger?: RpcLogger | undefined;
  /**
   * stopping, once aborted, ends every open server-streaming and bidi call at once with UNAVAILABLE "shutting down"
   * (their `ctx.signal` aborts, so handler `finally` blocks run) and answers every call that starts after it the
   * same way; unary and client-streaming calls already running are left to drain.
   */
  stopping?: AbortSignal | undefined;
}

/** shuttingDown is the status of a call ended, or refused, because the server is stopping. */
function shuttingDown(): ServiceError {
  return new ServiceError(status.UNAVAILABLE, "shutting down");
}

/**
 * addService registers a typed implementation of a protobuf-es service on a grpc-js server. RPCs missing from `impl`
 * answer UNIMPLEMENTED (grpc-js's default), so a service can grow one method at a time.
 */
export function addService<S extends DescService>(
  server: Pick<Server, "addService">,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: AddServiceOptions = {},
): void {
  const handlers: Record<string, UntypedHandleCall> = {};
  const fns = impl as Record<string, ((...args: never[]) => unknown) | undefined>;
  const streams = openStreams(options.stopping);
  for (const method of service.methods) {
    const fn = fns[method.localName];
    if (fn !== undefined) handlers[method.name] = wrap(method, fn.bind(impl) as AnyHandler, options.logger, streams);
  }
  server.addService(createServiceDefinition(service, options), handlers);
}

type AnyHandler = (input: unknown, ctx: HandlerContext) => unknown;

/** OpenStreams tracks the open streaming calls of one registration, so one `stopping` listener can end them all. */
interface OpenStreams {
  readonly stopping: AbortSignal | undefined;
  readonly open: Set<Rpc>;
}

function openStreams(stopping: AbortSignal | undefined): OpenStreams {
  const open = new Set<Rpc>();
  stopping?.addEventListener("abort", () => open.forEach((rpc) => rpc.abort(shuttingDown())), { once: true });
  return { stopping, open };
}

function wrap(method: DescMethod, fn: AnyHandler, logger: RpcLogger | undefined, streams: OpenStreams): UntypedHandleCall {
  const handle = wrapKind(method, fn, logger, streams);
  // Every call runs in its trace (trace-context.ts): the caller's `traceparent`, or a new trace when it sent none.
  return ((call: ServerCall, callback?: sendUnaryData<unknown>) =>
    runInTrace(traceparentOf(call), () => (handle as (c: ServerCall, cb?: sendUnaryData<unknown>) => void)(call, callback))) as UntypedHandleCall;
}

function traceparentOf(call: ServerCall): string | undefined {
  const value = call.metadata.get("traceparent")[0];
  return typeof value === "string" ? value : undefined;
}

function wrapKind(method: DescMethod, fn: AnyHandler, logger: RpcLogger | undefined, streams: OpenStreams): UntypedHandleCall {
  const refused = () => streams.stopping?.aborted === true;
  switch (method.methodKind) {
    case "unary":
      return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const rpc = new Rpc(call, logger);
        const request = call.request;
        if (refused()) return rpc.failUnary(callback, shuttingDown());
        if (isBadRequest(request)) return rpc.failUnary(callback, badRequest(request.problem));
        void settle(() => fn(request, rpc.ctx)).then(
          (res) => rpc.replyUnary(callback, method, res),
          (err: unknown) => rpc.failUnary(callback, err),
        );
      };
    case "client_streaming":
      return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const rpc = new Rpc(call, logger);
        if (refused()) return rpc.failUnary(callback, shuttingDown());
        void settle(() => fn(readRequests(call, rpc.ctx.signal), rpc.ctx)).then(
          (res) => rpc.replyUnary(callback, method, res),
          (err: unknown) => rpc.failUnary(callback, err),
        );
      };
    case "server_streaming":
      return (call: ServerWritableStream<unknown, unknown>) => {
        const rpc = new Rpc(call, logger);
        const request = call.request;
        if (refused()) return rpc.failStream(call, shuttingDown());
        if (isBadRequest(request)) return rpc.failStream(call, badRequest(request.problem));
        void rpc.stream(call, method, () => fn(request, rpc.ctx) as AsyncIterable<unknown>, streams.open);
      };
    case "bidi_streaming":
      return (call: ServerDuplexStream<unknown, unknown>) => {
        const rpc = new Rpc(call, logger);
        if (refused()) return rpc.failStream(call, shuttingDown());
        void rpc.stream(call, method, () => fn(readRequests(call, rpc.ctx.signal), rpc.ctx) as AsyncIterable<unknown>, streams.open);
      };
  }
}

function badRequest(problem: string): ServiceError {
  return new ServiceError(status.INVALID_ARGUMENT, problem);
}

/** settle runs a handler so that a synchronous throw becomes a rejection, like an async function's. */
async function settle(run: () => unknown): Promise<unknown> {
  return await run();
}

/**
 * readRequests yields a client stream's requests. It reads through the stream's own iterator (so an unread stream
 * applies backpressure to the client) without destroying the call when the handler stops early (a bidi handler
 * may stop reading and keep writing), and it throws when the call is cancelled so `for await` never hangs.
 */
async function* readRequests(call: Readable, signal: AbortSignal): AsyncGenerator<Message> {
  const it = call.iterator({ destroyOnReturn: false });
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => {}); // The race below observes it; this only keeps an unraced abort from being "unhandled".
  for (;;) {
    const next = (await Promise.race([it.next(), aborted])) as IteratorResult<unknown>;
    if (next.done) {
      // A client's RST_STREAM reaches grpc-js as end-of-requests first and as 'cancelled' only when the HTTP/2 stream
      // closes, a tick later: wait for that tick so a cancel is not mistaken for a clean half-close.
      await new Promise((resolve) => setImmediate(resolve));
      if (signal.aborted) throw signal.reason;
      return;
    }
    if (isBadRequest(next.value)) throw badRequest(next.value.problem);
    yield next.value as Message;
  }
}

/** Rpc tracks one call: its context, when it started, whether headers went out, and how it ended (logged once). */
class Rpc {
  readonly ctx: HandlerContext;
  private readonly dispose: () => void;
  /** abortReason says whether (and why) the call was cancelled without creating ctx.signal (see createHandlerContext). */
  private readonly abortReason: () => ServiceError | undefined;
  /** abort aborts ctx.signal from the server's side (stopping). */
  readonly abort: (reason: ServiceError) => void;
  private readonly started = performance.now();
  private headerSent = false;
  private done = false;

  constructor(
    private readonly call: ServerCall,
    private readonly logger: RpcLogger | undefined,
  ) {
    ({ ctx: this.ctx, dispose: this.dispose, abortReason: this.abortReason, abort: this.abort } = createHandlerContext(call));
  }

  replyUnary(callback: sendUnaryData<unknown>, method: DescMethod, response: unknown): void {
    let bytes: Buffer;
    try {
      // Encoded here, not by grpc-js, so a bad response object maps to "internal error" instead of leaking details.
      bytes = serializeMessage(method.output, response);
    } catch (err) {
      return this.failUnary(callback, err);
    }
    this.sendHeader();
    callback(null, bytes, this.ctx.responseTrailer);
    this.finish(status.OK, "OK");
  }

  failUnary(callback: sendUnaryData<unknown>, err: unknown): void {
    const st = this.toStatus(err);
    this.sendHeader();
    callback(st);
    this.finish(st.code, st.details, err);
  }

  failStream(call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>, err: unknown): void {
    const st = this.toStatus(err);
    this.sendHeader();
    // grpc-js turns an 'error' event on a server stream into the call's status (and ends the stream).
    call.emit("error", st);
    this.finish(st.code, st.details, err);
  }

  async stream(
    call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
    method: DescMethod,
    run: () => AsyncIterable<unknown>,
    open: Set<Rpc>,
  ): Promise<void> {
    const signal = this.ctx.signal;
    open.add(this);
    try {
      await this.pump(call, method, run, signal);
    } finally {
      open.delete(this);
    }
  }

  private async pump(
    call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
    method: DescMethod,
    run: () => AsyncIterable<unknown>,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      // `break` in for-await calls the generator's return(), so its finally blocks run when the client goes away.
      for await (const response of (await settle(run)) as AsyncIterable<unknown>) {
        if (signal.aborted) break;
        this.sendHeader();
        if (!call.write(serializeMessage(method.output, response))) await drained(call, signal);
        if (signal.aborted) break;
      }
    } catch (err) {
      return this.failStream(call, err);
    }
    // A server-side abort (stopping) still owes the client a status; a cancelled client is gone.
    if (signal.aborted && this.abortReason()?.status === status.UNAVAILABLE) return this.failStream(call, this.abortReason());
    if (signal.aborted) return this.finish(...this.abortedStatus());
    this.sendHeader();
    call.end(this.ctx.responseTrailer);
    this.finish(status.OK, "OK");
  }

  private toStatus(err: unknown): ServerErrorResponse & { code: status; details: string } {
    // After a cancel or an expired deadline the handler's error is a consequence, not a bug: report why it stopped.
    const reason = this.abortReason();
    const mapped = reason !== undefined ? toGrpcStatus(reason) : toGrpcStatus(err);
    return Object.assign(new Error(mapped.details), {
      code: mapped.code,
      details: mapped.details,
      metadata: this.ctx.responseTrailer,
    });
  }

  private abortedStatus(): [status, string] {
    const st = toGrpcStatus(this.abortReason());
    return [st.code, st.details];
  }

  private sendHeader(): void {
    if (this.headerSent || this.abortReason() !== undefined) return;
    this.headerSent = true;
    // Only when there is something to send: otherwise grpc-js sends its default headers (or a trailers-only error).
    if (Object.keys(this.ctx.responseHeader.getMap()).length > 0) this.call.sendMetadata(this.ctx.responseHeader);
  }

  private finish(code: status, details: string, err?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.dispose();
    if (!this.logger) return;
    // A successful call logs at debug: build no fields for a line nobody will see (a hot path under load).
    if (code === status.OK && this.logger.isLevelEnabled?.("debug") === false) return;
    const traceId = traceIdOf(this.ctx.metadata.get("traceparent"));
    const fields = {
      method: this.ctx.method,
      code: toStatusName(code),
      durationMs: Math.round((performance.now() - this.started) * 10) / 10,
      peer: this.ctx.peer,
      ...(traceId === undefined ? {} : { traceId }),
    };
    if (code === status.INTERNAL && err !== undefined && !(err instanceof ServiceError)) {
      this.logger.error({ ...fields, err }, "rpc failed");
    } else if (code === status.OK) {
      this.logger.debug(fields, "rpc finished");
    } else {
      this.logger.info({ ...fields, details }, "rpc finished");
    }
  }
}

/**
 * traceIdOf reads the trace id from a W3C `traceparent` (version-traceid-parentid-flags), so a service's RPC log
 * line carries the same traceId as the gateway's lines for that request.
 */
function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent === undefined ? undefined : /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/.exec(traceparent)?.[1];
}

/** drained waits until a stream can take more writes, or until the call ends or is cancelled. */
function drained(call: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.removeListener("drain", done);
      call.removeListener("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.once("drain", done);
    call.once("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
