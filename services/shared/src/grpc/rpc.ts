import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { Metadata, ServerDuplexStream, ServerErrorResponse, ServerWritableStream, sendUnaryData } from "@grpc/grpc-js";
import { toGrpcStatus, toStatusName, type GrpcStatus } from "../errors.js";
import type { AccessControl } from "../security/access-control.js";
import { currentTrace, parseTraceparent, type TraceContext } from "../trace-context.js";
import { endRpcSpan, startServerSpan } from "../tracing/rpc-spans.js";
import type { Span, Spans } from "../tracing/spans.js";
import { GrpcHandlerContext, peerOf, type ServerCall } from "./handler-context.js";
import type { RpcLogger, RpcObserver } from "./rpc-logger.js";
import { methodPath, serializeMessage } from "./service-definition.js";

/** ServerStream is a grpc-js server call that sends a stream of responses. */
export type ServerStream = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/** shuttingDown is how a stream the server ends at shutdown finishes, and how calls arriving after that are refused. */
export function shuttingDown(): ConnectError {
  return new ConnectError("shutting down", Code.Unavailable);
}

/** OK is gRPC status 0, which Connect's Code (errors only) does not spell. */
const OK: GrpcStatus = { code: 0, details: "OK", internal: false };

/** settle runs a handler so that a synchronous throw becomes a rejection, like an async function's. */
export async function settle(run: () => unknown): Promise<unknown> {
  return await run();
}

/**
 * Rpc tracks one call: its Connect context, when it started, whether headers went out, and how it ended (sent and
 * logged once). It is created inside the call's trace context, so its log line carries that trace id, and its SERVER
 * span (tracing on) has that context's ids: the trace id of the log line, the caller's span as its parent.
 */
export class Rpc {
  readonly ctx: GrpcHandlerContext;
  private readonly started = performance.now();
  private readonly trace: TraceContext | undefined = currentTrace();
  private readonly span: Span | undefined;
  private headerSent = false;
  private done = false;

  constructor(
    private readonly call: ServerCall,
    private readonly method: DescMethod,
    private readonly logger: RpcLogger | undefined,
    private readonly observe?: RpcObserver | undefined,
    spans?: Spans | undefined,
  ) {
    this.ctx = new GrpcHandlerContext(call, method);
    if (spans !== undefined && this.trace !== undefined) {
      // The caller's span is the parent: runInTrace made this call's context a child of the same `traceparent`.
      const sent = call.metadata.get("traceparent")[0];
      const caller = parseTraceparent(typeof sent === "string" ? sent : undefined);
      this.span = startServerSpan(spans, methodPath(this.method).slice(1), this.trace, caller);
    }
  }

  /**
   * admit runs the kit's access control on the call before its handler (`methodName` is `package.Service/Method`): the error to fail the call with, or
   * undefined once the caller and principal are recorded in the handler's context.
   */
  admit(access: AccessControl | undefined, methodName: string): ConnectError | undefined {
    if (access === undefined) return undefined;
    const admission = access.admit(this.call, methodName);
    if (admission instanceof ConnectError) return admission;
    this.ctx.admitted(admission);
    return undefined;
  }

  replyUnary(callback: sendUnaryData<unknown>, response: unknown): void {
    if (this.done) return;
    let bytes: Buffer;
    try {
      // Encoded here, not by grpc-js, so a bad response object maps to "internal error" instead of leaking details.
      bytes = serializeMessage(this.method.output, response);
    } catch (err) {
      this.failUnary(callback, err);
      return;
    }
    this.sendHeader();
    callback(null, bytes, this.ctx.trailerMetadata());
    this.finish(OK);
  }

  failUnary(callback: sendUnaryData<unknown>, err: unknown): void {
    if (this.done) return;
    const [error, st] = this.toStatusError(err);
    this.sendHeader();
    callback(error);
    this.finish(st, err);
  }

  failStream(call: ServerStream, err: unknown): void {
    if (this.done) return;
    const [error, st] = this.toStatusError(err);
    this.sendHeader();
    // grpc-js turns an 'error' event on a server stream into the call's status (and ends the stream).
    call.emit("error", error);
    this.finish(st, err);
  }

  /**
   * stream sends what the handler yields, waiting for 'drain' when the client reads slowly, and ends with OK, the
   * handler's error, or nothing at all when the client went away (it hears nothing more).
   */
  async stream(call: ServerStream, run: () => AsyncIterable<unknown>): Promise<void> {
    const signal = this.ctx.signal;
    try {
      // `break` in for-await calls the generator's return(), so its finally blocks run when the call ends early.
      for await (const response of (await settle(run)) as AsyncIterable<unknown>) {
        if (signal.aborted) break;
        this.sendHeader();
        if (!call.write(serializeMessage(this.method.output, response))) await drained(call, signal);
        if (signal.aborted) break;
      }
    } catch (err) {
      return this.failStream(call, err);
    }
    if (this.done) return;
    const reason = this.ctx.abortReason();
    if (reason !== undefined) return this.finish(toGrpcStatus(reason));
    this.sendHeader();
    call.end(this.ctx.trailerMetadata());
    this.finish(OK);
  }

  /** stop ends a stream now with `reason`: the handler's signal aborts with it and the client gets it as the status. */
  stop(call: ServerStream, reason: ConnectError): void {
    this.ctx.abort(reason);
    this.failStream(call, reason);
  }

  private toStatusError(err: unknown): [ServerErrorResponse, GrpcStatus] {
    // After a cancel or an expired deadline the handler's error is a consequence, not a bug: report why it stopped.
    const cause = this.ctx.abortReason() ?? err;
    const st = toGrpcStatus(cause);
    // Connect's own encoder adds the error's metadata and, when it has details, grpc-status-details-bin.
    const extra = cause instanceof ConnectError ? setTrailerStatus(new Headers(), cause) : undefined;
    const metadata: Metadata | undefined = this.ctx.trailerMetadata(extra);
    const error = Object.assign(new Error(st.details), { code: st.code, details: st.details, ...(metadata ? { metadata } : {}) });
    return [error, st];
  }

  private sendHeader(): void {
    if (this.headerSent || this.ctx.abortReason() !== undefined) return;
    this.headerSent = true;
    // Only when there is something to send: otherwise grpc-js sends its default headers (or a trailers-only error).
    const header = this.ctx.headerMetadata();
    if (header !== undefined) this.call.sendMetadata(header);
  }

  private finish(st: GrpcStatus, err?: unknown): void {
    const code = st.code;
    if (this.done) return;
    this.done = true;
    this.ctx.complete();
    this.observe?.(methodPath(this.method), toStatusName(code), (performance.now() - this.started) / 1000);
    if (this.span !== undefined) endRpcSpan(this.span, "server", code, st.details);
    if (!this.logger) return;
    // A successful call logs at debug: build no fields for a line nobody will see (a hot path under load).
    if (code === OK.code && this.logger.isLevelEnabled?.("debug") === false) return;
    const fields = {
      method: methodPath(this.method),
      code: toStatusName(code),
      durationMs: Math.round((performance.now() - this.started) * 10) / 10,
      peer: peerOf(this.call),
      ...(this.ctx.callerIdentity === undefined ? {} : { caller: this.ctx.callerIdentity }),
      ...(this.trace === undefined ? {} : { traceId: this.trace.traceId }),
    };
    if (st.internal && err !== undefined) {
      this.logger.error({ ...fields, err }, "rpc failed");
    } else if (code === OK.code) {
      this.logger.debug(fields, "rpc finished");
    } else if (code === Code.PermissionDenied) {
      // Security-relevant: one line naming the method and, in details, the caller the policy refused.
      this.logger.warn({ ...fields, details: st.details }, "rpc denied");
    } else {
      this.logger.info({ ...fields, details: st.details }, "rpc finished");
    }
  }
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
