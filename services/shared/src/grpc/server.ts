import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import type { ServerOptions, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { ConnectError } from "@connectrpc/connect";
import type { AccessControl, AdmittableCall } from "../security/access-control.js";
import { Health } from "#gen/grpc/health/v1/health_pb.js";
import { addService } from "./add-service.js";
import type { Spans } from "../tracing/spans.js";
import { reflectionServices } from "./reflection.js";
import type { ServiceRegistration } from "./registration.js";
import type { RpcLogger, RpcObserver } from "./rpc-logger.js";
import { DEFAULT_MAX_REQUEST_BYTES } from "./service-definition.js";
import { applyStreamResetLimit, type StreamResetLimit } from "./stream-reset-limit.js";

// Registrations are built where servers are: callers import `implement` from here or from the index.
export { implement, type ServiceRegistration } from "./registration.js";

/** CreateGrpcServerOptions configures {@link createGrpcServer}. */
export interface CreateGrpcServerOptions {
  /** services to serve, each built with `implement` (registration.ts). */
  services: readonly ServiceRegistration[];
  logger?: RpcLogger;
  /** maxRequestBytes is the request message limit answered with INVALID_ARGUMENT (default 1 MiB). */
  maxRequestBytes?: number;
  /** serverOptions are passed to grpc-js (keepalive, max concurrent streams ...). */
  serverOptions?: ServerOptions;
  /** streamResetLimit is the per-connection HTTP/2 rapid-reset guard (default DEFAULT_STREAM_RESET_LIMIT). */
  streamResetLimit?: StreamResetLimit;
  /**
   * stopping aborts when the server shuts down: every open server-streaming and bidi call then ends at once with
   * UNAVAILABLE "shutting down" (its handler's signal aborts with that ConnectError, so `finally` blocks run), while
   * unary and client-streaming calls are left to finish (shutdownServer drains them with tryShutdown). Any call
   * that starts after it aborted is answered UNAVAILABLE "shutting down" too.
   */
  stopping?: AbortSignal;
  /**
   * access admits every call before its handler, health and reflection included: the access policy on the
   * caller's certificate identity, and the principal only from the gateway (security/access-control.ts).
   */
  access?: AccessControl;
  /** observe hears of every finished call served through the adapter (the process's RPC metrics). */
  observe?: RpcObserver;
  /** spans, when tracing is on, give every call served through addService a SERVER span (tracing/rpc-spans.ts). */
  spans?: Spans | undefined;
}

/** ServerHealth is the grpc.health.v1 state of one server: per service, plus "" for the server as a whole. */
export interface ServerHealth {
  readonly implementation: HealthImplementation;
  /** serviceNames are the names reported, "" first. */
  readonly serviceNames: readonly string[];
  setStatus(serviceName: string, status: ServingStatus): void;
  /** setAll sets every reported name at once (NOT_SERVING at shutdown). */
  setAll(status: ServingStatus): void;
}

/** GrpcServer is a built, not yet listening, server with its health state. */
export interface GrpcServer {
  server: Server;
  health: ServerHealth;
}

/** MAX_CONNECTION_AGE_MS: how long a client connection may live before the server asks it to reconnect. */
const MAX_CONNECTION_AGE_MS = 60 * 60 * 1000;

/** GRPC_JS_RECEIVE_CAP_FLOOR: grpc-js's default receive limit (4 MiB); see createGrpcServer for why it stays above ours. */
const GRPC_JS_RECEIVE_CAP_FLOOR = 4 * 1024 * 1024;

/**
 * createGrpcServer builds a grpc-js server with the given services, grpc.health.v1 (every service SERVING) and
 * server reflection v1 + v1alpha (served through the adapter like any service). It does not listen: only a
 * service's main.ts binds a port, tests bind port 0.
 */
export function createGrpcServer(options: CreateGrpcServerOptions): GrpcServer {
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const server = new Server({
    // grpc-js rejects messages above its cap with RESOURCE_EXHAUSTED before our check can answer INVALID_ARGUMENT,
    // so its cap must sit above ours; it stays finite as the backstop against buffering absurd messages.
    "grpc.max_receive_message_length": Math.max(GRPC_JS_RECEIVE_CAP_FLOOR, maxRequestBytes * 2),
    // TLS never re-authenticates a live connection: ending connections after an hour (GOAWAY; open streams finish)
    // bounds how long one outlives the certificate it was opened with, once certificates rotate.
    "grpc.max_connection_age_ms": MAX_CONNECTION_AGE_MS,
    ...options.serverOptions,
  });
  applyStreamResetLimit(server, options.streamResetLimit);
  const descs = options.services.map((s) => s.service);
  const addOptions = {
    logger: options.logger,
    maxRequestBytes,
    stopping: options.stopping,
    access: options.access,
    observe: options.observe,
    spans: options.spans,
  };
  for (const { service: desc, impl } of [...options.services, ...reflectionServices([...descs, Health])]) {
    addService(server, desc, impl, addOptions);
  }
  const health = createServerHealth(["", ...descs.map((d) => d.typeName)]);
  // grpc-health-check registers raw grpc-js handlers; a guard gives them the same admission and stop semantics.
  health.implementation.addToServer(guardRawHandlers(server, options));
  return { server, health };
}

type RawCall = NodeJS.EventEmitter & AdmittableCall & { write(message: unknown): boolean; end(): void };
type RawHandler = (call: RawCall, callback?: (error: object | null, value?: unknown) => void) => void;

/**
 * guardRawHandlers is a `Server` for addToServer-style registrations (grpc-health-check) that gives their raw grpc-js
 * handlers what addService gives Connect handlers: admission by `access` (a refused call gets PERMISSION_DENIED and
 * one warn line), and the `stopping` semantics: open response streams (a health Watch) end with UNAVAILABLE
 * "shutting down" when it aborts, and calls arriving after it are refused the same way.
 */
function guardRawHandlers(server: Server, options: CreateGrpcServerOptions): Pick<Server, "addService"> {
  const { stopping, access, logger } = options;
  const open = new Set<RawCall>();
  const shutdown = { code: status.UNAVAILABLE, details: "shutting down" };
  const end = (call: RawCall) => {
    open.delete(call);
    call.write = () => true; // the implementation may still write (a health change); the call is over
    call.emit("error", shutdown);
  };
  stopping?.addEventListener("abort", () => open.forEach(end), { once: true });
  const refusal = (call: RawCall, method: string) => {
    if (stopping?.aborted) return shutdown;
    const admission = access?.admit(call, method);
    if (!(admission instanceof ConnectError)) return undefined;
    logger?.warn({ method, code: "PERMISSION_DENIED", details: admission.rawMessage }, "rpc denied");
    return { code: status.PERMISSION_DENIED, details: admission.rawMessage };
  };
  return {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      const wrapped: UntypedServiceImplementation = {};
      for (const [name, attrs] of Object.entries(definition)) {
        const handler = (implementation[name] ?? implementation[attrs.originalName ?? ""]) as RawHandler | undefined;
        if (handler === undefined) continue;
        const method = attrs.path.slice(1);
        wrapped[name] = ((call: RawCall, callback?: (error: object | null, value?: unknown) => void) => {
          const refused = refusal(call, method);
          if (refused) return attrs.responseStream ? call.emit("error", refused) : callback?.(refused);
          if (attrs.responseStream) {
            open.add(call);
            call.once("finish", () => open.delete(call));
            call.once("cancelled", () => open.delete(call));
          }
          handler(call, callback);
        }) as UntypedServiceImplementation[string];
      }
      server.addService(definition, wrapped);
    },
  };
}

function createServerHealth(serviceNames: readonly string[]): ServerHealth {
  const implementation = new HealthImplementation(Object.fromEntries(serviceNames.map((n) => [n, "SERVING"])));
  return {
    implementation,
    serviceNames,
    setStatus: (name, status) => implementation.setStatus(name, status),
    setAll: (status) => {
      for (const name of serviceNames) implementation.setStatus(name, status);
    },
  };
}

/** bindServer listens on `address` (e.g. "127.0.0.1:0") without TLS and resolves with the bound port. */
export function bindServer(server: Server, address: string, credentials = ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/** ShutdownOptions time a graceful shutdown. */
export interface ShutdownOptions {
  /** graceMs is how long in-flight calls may take to finish before they are cancelled (default 10 s). */
  graceMs?: number;
  /**
   * drainDelayMs keeps serving for a while after health turns NOT_SERVING, so load balancers and health watchers
   * notice before new connections are refused (default 0).
   */
  drainDelayMs?: number;
}

/**
 * shutdownServer stops a server gracefully: health → NOT_SERVING, optionally wait drainDelayMs, stop accepting and
 * let in-flight calls finish (`tryShutdown`), and after graceMs cancel whatever is left (`forceShutdown`). Resolves
 * true when every call finished on its own, false when the force timer had to act.
 */
export async function shutdownServer(server: Server, health: ServerHealth, options: ShutdownOptions = {}): Promise<boolean> {
  health.setAll("NOT_SERVING");
  if (options.drainDelayMs) await new Promise((resolve) => setTimeout(resolve, options.drainDelayMs));
  return await new Promise<boolean>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve(false);
    }, options.graceMs ?? 10_000);
    force.unref();
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve(true);
    });
  });
}
