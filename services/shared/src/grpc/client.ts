import { Client, Metadata, credentials as grpcCredentials } from "@grpc/grpc-js";
import type { CallOptions as GrpcCallOptions, ChannelCredentials, ChannelOptions, ClientWritableStream, StatusObject } from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { EventEmitter } from "node:events";
import { isIP } from "node:net";
import type { Readable } from "node:stream";
import { childOf, currentTrace, formatTraceparent, newTrace, parseTraceparent, type TraceContext } from "../trace-context.js";
import { endRpcSpan, startClientSpan } from "../tracing/rpc-spans.js";
import type { Span, Spans } from "../tracing/spans.js";
import { methodPath, serializeMessage } from "./service-definition.js";

/**
 * CallOptions are per call. Failed calls reject with grpc-js's ServiceError: numeric `code`, `details`, `metadata`.
 * A handler that calls on passes its own deadline and cancellation, as Connect handlers do:
 * `{ signal: ctx.signal, timeoutMs: ctx.timeoutMs() }`.
 */
export interface CallOptions {
  /** timeoutMs sets the deadline relative to now; `deadline` wins when both are given. */
  timeoutMs?: number | undefined;
  deadline?: Date | number | undefined;
  metadata?: Record<string, string> | Metadata;
  /** signal cancels the call (the caller then sees CANCELLED; a handler's signal also aborts at its deadline). */
  signal?: AbortSignal | undefined;
  /** onHeader receives the response headers. */
  onHeader?: (header: Metadata) => void;
  /** onTrailer receives the response trailers, also on failure. */
  onTrailer?: (trailer: Metadata) => void;
}

/** ClientOptions configure the channel, once per client. */
export interface ClientOptions {
  /** credentials default to plaintext; the mesh's own are mTLS (the kit's `channelCredentials`, ProcessMesh's `credentials`). */
  credentials?: ChannelCredentials | undefined;
  /**
   * serviceConfig is a gRPC service config object (https://github.com/grpc/grpc/blob/master/doc/service_config.md),
   * e.g. `{ methodConfig: [{ name: [{ service: "shop.inventory.v1.InventoryService", method: "GetProduct" }],
   * retryPolicy: { maxAttempts: 3, ... } }] }`; retries are only safe for idempotent methods.
   */
  serviceConfig?: object;
  /** keepalive pings; keep timeMs at or above the server's allowed ping interval or it answers with GOAWAY. */
  keepalive?: { timeMs: number; timeoutMs?: number; permitWithoutCalls?: boolean };
  /** defaultTimeoutMs applies to calls that set neither timeoutMs nor deadline, so no call waits forever. */
  defaultTimeoutMs?: number;
  /** channelOptions are passed to grpc-js as is, after the ones above. */
  channelOptions?: ChannelOptions;
  /** spans, when tracing is on, give every call a CLIENT span whose ids are the `traceparent` it sends (the kit's). */
  spans?: Spans | undefined;
}

type Init<I extends DescMessage> = MessageInitShape<I>;
type Requests<I extends DescMessage> = AsyncIterable<Init<I>> | Iterable<Init<I>>;

/** ClientMethod is the client-side signature of one RPC, by method kind. */
export type ClientMethod<M extends DescMethod> = M extends { input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? M extends { methodKind: "unary" }
    ? (request: Init<I>, options?: CallOptions) => Promise<MessageShape<O>>
    : M extends { methodKind: "server_streaming" }
      ? (request: Init<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
      : M extends { methodKind: "client_streaming" }
        ? (requests: Requests<I>, options?: CallOptions) => Promise<MessageShape<O>>
        : (requests: Requests<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
  : never;

/** ServiceClient has one method per RPC (by local name), plus `close()` and the underlying grpc-js client. */
export type ServiceClient<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethod ? ClientMethod<S["method"][K]> : never;
} & { close(): void; readonly grpcClient: Client };

/** createClient builds a typed client for a protobuf-es service over one grpc-js channel to `address`. */
export function createClient<S extends DescService>(service: S, address: string, options: ClientOptions = {}): ServiceClient<S> {
  const client = new Client(address, options.credentials ?? grpcCredentials.createInsecure(), channelOptions(address, options));
  const methods: Record<string, unknown> = { close: () => client.close(), grpcClient: client };
  for (const method of service.methods) methods[method.localName] = clientMethod(client, method, address, options);
  return methods as ServiceClient<S>;
}

/**
 * SNI_FOR_IP_TARGETS is the TLS server name sent when the target is an IP literal (127.0.0.1:50051): grpc-js would
 * send the IP itself, which RFC 6066 forbids and Node warns about (DEP0123). Every mesh server certificate carries
 * DNS:localhost, and the mesh's clients check the server's SPIFFE ID, not the name, so this changes no verdict.
 */
const SNI_FOR_IP_TARGETS = "localhost";

function channelOptions(address: string, options: ClientOptions): ChannelOptions {
  const out: ChannelOptions = {};
  if (options.credentials?._isSecure() && isIP(hostOf(address)) !== 0) out["grpc.ssl_target_name_override"] = SNI_FOR_IP_TARGETS;
  if (options.serviceConfig) {
    out["grpc.service_config"] = JSON.stringify(options.serviceConfig);
    out["grpc.enable_retries"] = 1;
  }
  if (options.keepalive) {
    out["grpc.keepalive_time_ms"] = options.keepalive.timeMs;
    if (options.keepalive.timeoutMs !== undefined) out["grpc.keepalive_timeout_ms"] = options.keepalive.timeoutMs;
    out["grpc.keepalive_permit_without_calls"] = options.keepalive.permitWithoutCalls ? 1 : 0;
  }
  return { ...out, ...options.channelOptions };
}

/** hostOf is the host of a grpc-js target "host:port", "[v6]:port" or "dns:///host:port". */
function hostOf(address: string): string {
  const authority = address.replace(/^[a-z0-9+.-]+:\/\/[^/]*\//i, "");
  const bracketed = /^\[([^\]]+)\]/.exec(authority);
  if (bracketed) return bracketed[1]!;
  const colon = authority.lastIndexOf(":");
  return colon > 0 && authority.indexOf(":") === colon ? authority.slice(0, colon) : authority;
}

type Prepared = { metadata: Metadata; callOptions: GrpcCallOptions; span: Span | undefined };

/** Target is where a client's calls go and how they are traced: the method's full name, the address, the spans. */
interface Target {
  readonly method: string;
  readonly address: string;
  readonly spans: Spans | undefined;
}

function prepare(opts: CallOptions, defaultTimeoutMs: number | undefined, target: Target): Prepared {
  const metadata = opts.metadata instanceof Metadata ? opts.metadata : new Metadata();
  if (opts.metadata && !(opts.metadata instanceof Metadata)) {
    for (const [key, value] of Object.entries(opts.metadata)) metadata.set(key, value);
  }
  const callOptions: GrpcCallOptions = {};
  const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
  const deadline = opts.deadline ?? (timeoutMs === undefined ? undefined : Date.now() + timeoutMs);
  if (deadline !== undefined) callOptions.deadline = deadline;
  // The call carries its trace on: a caller's own `traceparent` wins (it names the span it made for the call); else
  // a child of the work in progress (the served call or event), or a new trace outside any. The CLIENT span then has
  // exactly the ids the server reads as its parent.
  const current = currentTrace();
  const own = traceparentOf(metadata) ?? (current === undefined ? newTrace() : childOf(current));
  metadata.set("traceparent", formatTraceparent(own));
  const span = target.spans === undefined ? undefined : startClientSpan(target.spans, target.method, target.address, own, current);
  return { metadata, callOptions, span };
}

function traceparentOf(metadata: Metadata): TraceContext | undefined {
  const value = metadata.get("traceparent")[0];
  return typeof value === "string" ? parseTraceparent(value) : undefined;
}

type CancellableCall = EventEmitter & { cancel(): void };

/**
 * observe wires headers, trailers and the abort signal to a call, and unwires them when the call ends; the call's
 * CLIENT span ends with its status ('status' comes once per call, after the last response, on success and failure).
 */
function observe(call: CancellableCall, opts: CallOptions, span: Span | undefined): void {
  const onAbort = () => call.cancel();
  if (opts.onHeader) call.on("metadata", opts.onHeader);
  call.on("status", (st: StatusObject) => {
    opts.signal?.removeEventListener("abort", onAbort);
    if (span !== undefined) endRpcSpan(span, "client", st.code, st.details);
    opts.onTrailer?.(st.metadata);
  });
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });
}

function clientMethod(client: Client, method: DescMethod, address: string, options: ClientOptions): unknown {
  const path = methodPath(method);
  const serialize = (value: unknown) => serializeMessage(method.input, value);
  const deserialize = (bytes: Buffer) => fromBinary(method.output, bytes);
  const target: Target = { method: path.slice(1), address, spans: options.spans };
  const start = (opts: CallOptions) => prepare(opts, options.defaultTimeoutMs, target);
  switch (method.methodKind) {
    case "unary":
      return (request: unknown, opts: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const { metadata, callOptions, span } = start(opts);
          const call = client.makeUnaryRequest(path, serialize, deserialize, request, metadata, callOptions, (err, res) =>
            err ? reject(err) : resolve(res),
          );
          observe(call, opts, span);
        });
    case "server_streaming":
      return (request: unknown, opts: CallOptions = {}) =>
        readResponses(() => {
          const { metadata, callOptions, span } = start(opts);
          return { call: client.makeServerStreamRequest(path, serialize, deserialize, request, metadata, callOptions), span };
        }, opts);
    case "client_streaming":
      return (requests: Requests<DescMessage>, opts: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const { metadata, callOptions, span } = start(opts);
          const call = client.makeClientStreamRequest(path, serialize, deserialize, metadata, callOptions, (err, res) =>
            err ? reject(err) : resolve(res),
          );
          observe(call, opts, span);
          writeRequests(call, requests).catch((err: unknown) => {
            // The request source failed: the caller learns its error, not the CANCELLED that follows.
            reject(err);
            call.cancel();
          });
        });
    case "bidi_streaming":
      return (requests: Requests<DescMessage>, opts: CallOptions = {}) => {
        let sourceError: { err: unknown } | undefined;
        return readResponses(
          () => {
            const { metadata, callOptions, span } = start(opts);
            const call = client.makeBidiStreamRequest(path, serialize, deserialize, metadata, callOptions);
            writeRequests(call, requests).catch((err: unknown) => {
              sourceError = { err };
              call.cancel();
            });
            return { call, span };
          },
          opts,
          () => sourceError,
        );
      };
  }
}

/**
 * readResponses starts the call on first iteration and yields its responses; leaving the loop early (break, throw)
 * cancels the call, so the server's signal aborts instead of streaming into the void.
 */
async function* readResponses<T extends CancellableCall & Readable>(
  startCall: () => { call: T; span: Span | undefined },
  opts: CallOptions,
  sourceError: () => { err: unknown } | undefined = () => undefined,
): AsyncGenerator<unknown> {
  const { call, span } = startCall();
  observe(call, opts, span);
  // The iterator must not destroy the stream when the caller leaves early: the call is cancelled explicitly below
  // (RST_STREAM, so the server's signal aborts), and grpc-js then reports that status on this very stream.
  const responses = call.iterator({ destroyOnReturn: false });
  let finished = false;
  try {
    for (;;) {
      const next = await responses.next();
      if (next.done) break;
      yield next.value;
    }
    finished = true;
  } catch (err) {
    finished = true;
    throw sourceError()?.err ?? err;
  } finally {
    if (!finished) {
      call.on("error", () => {}); // the CANCELLED status we cause arrives as an 'error' nobody reads any more
      call.cancel();
    }
  }
}

/** writeRequests streams requests with backpressure (waits for 'drain') and half-closes when the source ends. */
async function writeRequests(call: ClientWritableStream<unknown>, requests: Requests<DescMessage>): Promise<void> {
  let ended = false;
  call.once("status", () => (ended = true));
  for await (const request of requests) {
    if (ended) return;
    if (!call.write(request)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          call.removeListener("drain", done);
          call.removeListener("status", done);
          resolve();
        };
        call.once("drain", done);
        call.once("status", done);
      });
    }
  }
  if (!ended) call.end();
}
