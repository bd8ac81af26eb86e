import type { DescMethod, DescService, Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type {
  Server,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedHandleCall,
  sendUnaryData,
} from "@grpc/grpc-js";
import type { Readable } from "node:stream";
import type { AccessControl } from "../security/access-control.js";
import { runInTrace } from "../trace-context.js";
import type { Spans } from "../tracing/spans.js";
import type { ServerCall } from "./handler-context.js";
import { Rpc, settle, shuttingDown, type ServerStream } from "./rpc.js";
import type { RpcLogger, RpcObserver } from "./rpc-logger.js";
import { createServiceDefinition, isBadRequest, type DefinitionOptions } from "./service-definition.js";

/** AddServiceOptions tune one registration. */
export interface AddServiceOptions extends DefinitionOptions {
  /** logger gets one line per finished RPC, and the stack of every INTERNAL error. */
  logger?: RpcLogger | undefined;
  /**
   * stopping aborts when the server shuts down: every open server-streaming and bidi call then ends at once with
   * UNAVAILABLE "shutting down" (its handler's signal aborts with that error), while unary and client-streaming
   * calls are left to finish (tryShutdown drains them). Any call that starts after it aborted gets that status too.
   */
  stopping?: AbortSignal | undefined;
  /** access admits each call before its handler (the access policy, the asserted principal); none: every call. */
  access?: AccessControl | undefined;
  /** observe hears of every finished call (method, status, duration): the process's RPC metrics. */
  observe?: RpcObserver | undefined;
  /** spans, when tracing is on, give each call a SERVER span with the ids of its trace context; none: no spans. */
  spans?: Spans | undefined;
}

/**
 * addService registers a Connect `ServiceImpl` of a protobuf-es service on a grpc-js server: the same handlers
 * connect-node or `createRouterTransport` serve. Each handler gets Connect's HandlerContext and runs inside the
 * trace context of the call's `traceparent`. RPCs missing from `impl` answer UNIMPLEMENTED (grpc-js's default), so
 * a service can grow one method at a time.
 */
export function addService<S extends DescService>(
  server: Pick<Server, "addService">,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: AddServiceOptions = {},
): void {
  const streams = new OpenStreams(options.stopping);
  const handlers: Record<string, UntypedHandleCall> = {};
  const fns = impl as Record<string, ((...args: never[]) => unknown) | undefined>;
  for (const method of service.methods) {
    const fn = fns[method.localName];
    if (fn !== undefined) handlers[method.name] = wrap(method, fn.bind(impl) as AnyHandler, { ...options, streams });
  }
  server.addService(createServiceDefinition(service, options), handlers);
}

type AnyHandler = (input: unknown, ctx: HandlerContext) => unknown;

/** OpenStreams ends the open response streams of one registration when the server starts stopping. */
class OpenStreams {
  private readonly open = new Map<Rpc, ServerStream>();

  constructor(private readonly stopping: AbortSignal | undefined) {
    // One listener per registration rather than one per call: an AbortSignal listener per call showed in profiles.
    stopping?.addEventListener(
      "abort",
      () => {
        for (const [rpc, call] of this.open) rpc.stop(call, shuttingDown());
        this.open.clear();
      },
      { once: true },
    );
  }

  get stopped(): boolean {
    return this.stopping?.aborted === true;
  }

  /** track runs a stream and forgets it when it ends. */
  async track(rpc: Rpc, call: ServerStream, run: () => Promise<void>): Promise<void> {
    this.open.set(rpc, call);
    try {
      await run();
    } finally {
      this.open.delete(rpc);
    }
  }
}

function traceparentOf(call: ServerCall): string | undefined {
  const value = call.metadata.get("traceparent")[0];
  return typeof value === "string" ? value : undefined;
}

interface WrapOptions {
  readonly logger?: RpcLogger | undefined;
  readonly access?: AccessControl | undefined;
  readonly observe?: RpcObserver | undefined;
  readonly spans?: Spans | undefined;
  readonly streams: OpenStreams;
}

function wrap(method: DescMethod, fn: AnyHandler, { logger, access, observe, spans, streams }: WrapOptions): UntypedHandleCall {
  const name = `${method.parent.typeName}/${method.name}`;
  /** refusal is why the call must not reach its handler: the server is stopping, or the caller is not admitted. */
  const refusal = (rpc: Rpc): ConnectError | undefined => (streams.stopped ? shuttingDown() : rpc.admit(access, name));
  switch (method.methodKind) {
    case "unary":
      return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
        runInTrace(traceparentOf(call), () => {
          const rpc = new Rpc(call, method, logger, observe, spans);
          const request = call.request;
          const refused = refusal(rpc);
          if (refused) return rpc.failUnary(callback, refused);
          if (isBadRequest(request)) return rpc.failUnary(callback, badRequest(request.problem));
          void settle(() => fn(request, rpc.ctx)).then(
            (res) => rpc.replyUnary(callback, res),
            (err: unknown) => rpc.failUnary(callback, err),
          );
        });
    case "client_streaming":
      return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) =>
        runInTrace(traceparentOf(call), () => {
          const rpc = new Rpc(call, method, logger, observe, spans);
          const refused = refusal(rpc);
          if (refused) return rpc.failUnary(callback, refused);
          void settle(() => fn(readRequests(call, rpc.ctx.signal), rpc.ctx)).then(
            (res) => rpc.replyUnary(callback, res),
            (err: unknown) => rpc.failUnary(callback, err),
          );
        });
    case "server_streaming":
      return (call: ServerWritableStream<unknown, unknown>) =>
        runInTrace(traceparentOf(call), () => {
          const rpc = new Rpc(call, method, logger, observe, spans);
          const request = call.request;
          const refused = refusal(rpc);
          if (refused) return rpc.failStream(call, refused);
          if (isBadRequest(request)) return rpc.failStream(call, badRequest(request.problem));
          void streams.track(rpc, call, () => rpc.stream(call, () => fn(request, rpc.ctx) as AsyncIterable<unknown>));
        });
    case "bidi_streaming":
      return (call: ServerDuplexStream<unknown, unknown>) =>
        runInTrace(traceparentOf(call), () => {
          const rpc = new Rpc(call, method, logger, observe, spans);
          const refused = refusal(rpc);
          if (refused) return rpc.failStream(call, refused);
          void streams.track(rpc, call, () =>
            rpc.stream(call, () => fn(readRequests(call, rpc.ctx.signal), rpc.ctx) as AsyncIterable<unknown>),
          );
        });
  }
}

function badRequest(problem: string): ConnectError {
  return new ConnectError(problem, Code.InvalidArgument);
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
