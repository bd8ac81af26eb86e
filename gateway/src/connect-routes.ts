import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type ConnectRouter,
  type HandlerContext,
  type Interceptor,
  type ServiceImpl,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { Auth } from "./auth.js";
import { PUBLIC_SERVICES, type Backends } from "./backends.js";
import { codeName, toConnectError } from "./errors.js";
import { headerOf, isConnectUnary, pathOf, type HttpHandler, type NodeRequest, type NodeResponse } from "./http-handler.js";
import { writeHead } from "./node-http.js";
import { createOwnershipGuard, type OwnershipGuard } from "./ownership.js";
import { reflectionServices, REFLECTION_SERVICES } from "#shared/grpc/reflection.js";
import { requestContext, requestContextKey } from "./request-context.js";
import { rpcErrorGate } from "./rpc-error-gate.js";

/** RpcHandler serves every public service over Connect, gRPC and gRPC-Web by forwarding to its backend. */
export interface RpcHandler extends HttpHandler {
  /** isRpcPath is true for `/<package.Service>/<Method>` paths this handler serves. */
  isRpcPath(path: string): boolean;
}

/** RpcHandlerDeps are what forwarding needs. */
export interface RpcHandlerDeps {
  backends: Backends;
  auth: Auth;
  /** readMaxBytes caps one request message (BODY_LIMIT_BYTES): over it, RESOURCE_EXHAUSTED. */
  readMaxBytes: number;
  /** local are services the gateway answers itself (grpc.health.v1), listed by reflection like the public ones. */
  local?: readonly ServiceRegistration[];
}

/** ServiceRegistration is a service and its implementation. */
export interface ServiceRegistration {
  readonly service: DescService;
  readonly impl: Partial<ServiceImpl<DescService>>;
}

/**
 * createRpcHandler mounts `connectNodeAdapter` for the public services (plus server reflection). Every method is
 * forwarded generically to the backend's Connect client over gRPC, whatever its kind: unary, server streaming,
 * client streaming and bidi (bidi needs HTTP/2 end to end, so over HTTP/1.1 only Connect's half-duplex kinds work).
 * Interceptors: trace (outermost: `trace-id` on every answer and error, one log line per failed RPC), then auth.
 */
export function createRpcHandler(deps: RpcHandlerDeps): RpcHandler {
  const services = PUBLIC_SERVICES.map(({ service }) => service);
  const local = deps.local ?? [];
  const guard = createOwnershipGuard(deps.backends);
  const paths = new Set<string>();
  for (const service of [...services, ...local.map((l) => l.service), ...REFLECTION_SERVICES]) {
    for (const method of service.methods) paths.add(`/${service.typeName}/${method.name}`);
  }
  const adapter = connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      for (const service of services)
        router.service(service, forwardingImpl(service, deps.backends, guard) as unknown as Partial<ServiceImpl<DescService>>);
      for (const { service, impl } of local) router.service(service, impl);
      for (const { service, impl } of reflectionServices([...services, ...local.map((l) => l.service)])) router.service(service, impl);
    },
    readMaxBytes: deps.readMaxBytes,
    jsonOptions: STRICT_UTF8_JSON,
    requestGate: rpcErrorGate,
    interceptors: [traceInterceptor, deps.auth.interceptor],
    contextValues: (req) => createContextValues().set(requestContextKey, requestContext(req)),
  });
  const isRpcPath = (path: string) => paths.has(path);
  const handler = async (req: Parameters<HttpHandler>[0], res: Parameters<HttpHandler>[1]) => {
    if (!isRpcPath(pathOf(req))) return answerUnknownGrpcMethod(req, res);
    if (isConnectUnary(req) && headerOf(req, "content-length") === undefined) answerOversizedWith413(req, res);
    // The adapter answers asynchronously and reports its own protocol errors; it never rejects.
    adapter(req, res);
    return true;
  };
  return Object.assign(handler, { isRpcPath });
}

/**
 * answerOversizedWith413 makes a Connect unary call whose body Connect refused as too large answer 413, as REST and
 * the body-limit handler do, instead of RESOURCE_EXHAUSTED's 429 (which says retry later). Only a body sent without
 * a Content-Length gets this far (a declared one is refused before, http-handler.ts): Connect measures it while
 * reading, and the request gate notes the refusal before the adapter writes the status, which this adjusts.
 */
function answerOversizedWith413(req: NodeRequest, res: NodeResponse): void {
  const context = requestContext(req);
  const writeHead = res.writeHead as (status: number, ...rest: unknown[]) => NodeResponse;
  (res as { writeHead: typeof writeHead }).writeHead = (status, ...rest) =>
    writeHead.call(res, status === 429 && context.bodyTooLarge ? 413 : status, ...rest);
}

/**
 * answerUnknownGrpcMethod answers a gRPC or gRPC-Web call of a method the gateway does not serve as gRPC says:
 * HTTP 200 with `grpc-status: 12` (UNIMPLEMENTED), trailers-only, which every gRPC client reads as the status (a
 * 404 with a JSON body reads as a transport failure). Other callers (REST, Connect, browsers) pass on to the 404.
 */
async function answerUnknownGrpcMethod(req: NodeRequest, res: NodeResponse): Promise<boolean> {
  const contentType = headerOf(req, "content-type") ?? "";
  if (req.method !== "POST" || !GRPC_CONTENT_TYPE.test(contentType)) return false;
  const status = setTrailerStatus(new Headers(), new ConnectError(`method ${pathOf(req)} is not implemented`, Code.Unimplemented));
  writeHead(res, 200, { "content-type": contentType.split(";")[0]!.trim(), ...Object.fromEntries(status) });
  res.end();
  return true;
}

/** GRPC_CONTENT_TYPE matches gRPC (`application/grpc`, `+proto`, `+json`) and gRPC-Web content types. */
const GRPC_CONTENT_TYPE = /^application\/grpc(-web(-text)?)?(\+[\w.-]+)?\s*(;|$)/i;

/**
 * STRICT_UTF8_JSON makes Connect's JSON decoding reject invalid UTF-8 (INVALID_ARGUMENT) instead of replacing it with
 * U+FFFD, as the REST surface does (rest/index.ts): connect-es hands the adapter's jsonOptions to its JSON
 * serialization, which takes a `textDecoder` beside protobuf's JSON options. Unknown fields stay ignored, Connect's
 * default for JSON.
 */
const STRICT_UTF8_JSON = { ignoreUnknownFields: true, textDecoder: new TextDecoder("utf-8", { fatal: true }) };

type AnyImpl = (input: unknown, ctx: HandlerContext) => unknown;
type AnyClientMethod = (input: unknown, options: unknown) => unknown;

/**
 * forwardingImpl implements a service by calling the same method on its backend with the caller's deadline,
 * cancellation and forwarded metadata. Response headers and trailers the backend sets come back to the caller.
 * Errors are the backend's ConnectError as is: same code, same message. The ownership guard (ownership.ts) checks
 * the calls that concern an order owned by someone (the notifications) before and after.
 */
function forwardingImpl(service: DescService, backends: Backends, guard: OwnershipGuard): Record<string, AnyImpl> {
  const client = backends.clientFor(service) as unknown as Record<string, AnyClientMethod>;
  const impl: Record<string, AnyImpl> = {};
  for (const method of service.methods) {
    const call = client[method.localName];
    if (!call) continue;
    const options = (ctx: HandlerContext) => ({
      ...backends.callOptions(ctx),
      onHeader: (header: Headers) => copyHeaders(header, ctx.responseHeader),
      onTrailer: (trailer: Headers) => copyHeaders(trailer, ctx.responseTrailer),
    });
    switch (method.methodKind) {
      case "unary":
        // The lean call (grpc-unary.ts): no async-iterable pipeline and no AbortControllers per call.
        impl[method.localName] = async (input, ctx) => {
          await guard.before(service, method, input, ctx);
          const result = await backends.unary(service, method, input as never, ctx);
          await guard.after(service, method, result.message, ctx);
          copyHeaders(result.header(), ctx.responseHeader);
          copyHeaders(result.trailer(), ctx.responseTrailer);
          return result.message;
        };
        break;
      case "client_streaming":
        impl[method.localName] = (input, ctx) => call(input, options(ctx));
        break;
      case "server_streaming":
      case "bidi_streaming":
        impl[method.localName] = async function* (input, ctx) {
          await guard.before(service, method, input, ctx);
          yield* call(input, options(ctx)) as AsyncIterable<unknown>;
        };
        break;
    }
  }
  return impl;
}

// Protocol headers belong to each hop; only application metadata is copied back to the caller.
const HOP_HEADERS = /^(content-|grpc-|connect-|accept-|date$|te$|trailer$|transfer-encoding$|trace-id$|:)/;

function copyHeaders(from: Headers, to: Headers): void {
  from.forEach((value, key) => {
    if (!HOP_HEADERS.test(key)) to.set(key, value);
  });
}

/**
 * traceInterceptor puts the request's trace id on every RPC answer (response header; error metadata, which gRPC
 * sends as trailers) and logs each failed RPC once, with traceId bound. It wraps streamed responses too, since a
 * server stream fails while being read, after the interceptor has returned.
 */
const traceInterceptor: Interceptor = (next) => async (req) => {
  const context = req.contextValues.get(requestContextKey);
  const fail = (err: unknown): ConnectError => {
    const { error, internal } = toConnectError(err);
    // A backend error carries the backend's own response headers and trailers as metadata (content-type,
    // grpc-status...); sent on as they are, they would contradict the protocol of this hop.
    for (const key of [...error.metadata.keys()]) if (HOP_HEADERS.test(key)) error.metadata.delete(key);
    if (context) {
      const fields = { rpc: rpcName(req.method), code: codeName(error.code), message: error.rawMessage };
      if (internal) context.logger.error({ ...fields, err }, "rpc failed");
      else context.logger.info(fields, "rpc failed");
    }
    return error;
  };
  let res: Awaited<ReturnType<typeof next>>;
  try {
    res = await next(req);
  } catch (err) {
    throw fail(err);
  }
  if (!res.stream) return res;
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (err) {
        throw fail(err);
      }
    })(),
  };
};

function rpcName(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}
