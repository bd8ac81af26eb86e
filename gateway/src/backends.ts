import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import { createClient, type CallOptions, type Client, type HandlerContext } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health } from "#gen/grpc/health/v1/health_pb.js";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { OrderService as OrderServiceV1 } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderService as OrderServiceV2 } from "#gen/shop/order/v2/order_service_pb.js";
import { OpsService } from "#gen/shop/ops/v1/ops_service_pb.js";
import { PaymentService } from "#gen/shop/payment/v1/payment_service_pb.js";
import { PRINCIPAL_HEADERS } from "#shared/security/principal.js";
import type { MeshTransport } from "#shared/security/mesh-transport.js";
import type { Spans } from "#shared/tracing/spans.js";
import type { GatewayConfig } from "./config.js";
import { callUnary, type Cancel, type UnaryResult } from "./grpc-unary.js";
import { headerOf, type NodeRequest } from "./http-handler.js";
import { requestContext, requestContextKey, type RequestContext } from "./request-context.js";
import { beginBackendCall, clientSpanInterceptor, endBackendCall } from "./tracing.js";

/** PUBLIC_SERVICES are the domain services the gateway exposes (REST, Connect, gRPC, gRPC-Web), by backend. */
export const PUBLIC_SERVICES: ReadonlyArray<{ service: DescService; backend: BackendName }> = [
  { service: OrderServiceV1, backend: "order" },
  { service: OrderServiceV2, backend: "order" },
  { service: PaymentService, backend: "payment" },
  { service: InventoryService, backend: "inventory" },
  { service: NotificationService, backend: "notification" },
];

/** BackendName names a backend process. */
export type BackendName = "order" | "payment" | "inventory" | "notification";

/**
 * FORWARDED_HEADERS are the caller's request headers that travel on to the backend as gRPC metadata: this list and
 * nothing else. PRINCIPAL_HEADERS are never among them: a caller's own `x-shop-subject` or `x-shop-scopes` stop
 * here, and the ones the backend gets are written from the verified token alone.
 */
const FORWARDED_HEADERS: readonly string[] = ["idempotency-key"];

/** Backends holds one Connect client per backend service, over gRPC (h2c), and says what a forwarded call carries. */
export interface Backends {
  /** clientFor returns the client of a public service (or OpsService) on its backend. */
  clientFor<S extends DescService>(service: S): Client<S>;
  /** opsClient is shop.ops.v1.OpsService on one backend (the ops panel asks each for its outbox backlog). */
  opsClient(backend: BackendName): Client<typeof OpsService>;
  /** healthClient is grpc.health.v1.Health on one backend (the gateway's readiness asks each). */
  healthClient(backend: BackendName): Client<typeof Health>;
  /** addressOf is a backend's `host:port`. */
  addressOf(backend: BackendName): string;
  /**
   * forwardHeaders is the metadata a call made for this request carries: `traceparent` (the gateway's span in the
   * caller's trace), the caller's `idempotency-key`, and the principal of the verified token as PRINCIPAL_HEADERS
   * (subject, scopes space-separated). The source is the Node request (REST) or a Connect handler context (RPC
   * forwarding).
   */
  forwardHeaders(from: NodeRequest | HandlerContext): Headers;
  /**
   * callOptions are forwardHeaders plus the deadline: the caller's remaining time (a Connect context's
   * timeoutMs, or `timeoutMs`), else the default backend timeout; and a signal to cancel with the caller.
   */
  callOptions(from: NodeRequest | HandlerContext, options?: { signal?: AbortSignal; timeoutMs?: number }): CallOptions;
  /**
   * unary calls a unary method of a public service on its backend through the lean path (grpc-unary.ts), with
   * callOptions' metadata and deadline; `cancel` or `signal` cancel it with the caller.
   */
  unary<I extends DescMessage, O extends DescMessage>(
    service: DescService,
    method: DescMethod & { input: I; output: O },
    input: MessageShape<I>,
    from: NodeRequest | HandlerContext,
    options?: { cancel?: Cancel; signal?: AbortSignal },
  ): Promise<UnaryResult<MessageShape<O>>>;
  /** close drops the HTTP/2 sessions to the backends. */
  close(): void;
}

/**
 * createBackends connects (lazily) to the four backends named in the config, over `transport`: mTLS as the gateway,
 * verifying each backend's identity (https), or h2c under MESH_INSECURE=1. With `spans` (tracing on) every backend call
 * has a CLIENT span, on the Connect transport and on the lean unary path alike (tracing.ts).
 */
export function createBackends(config: Readonly<GatewayConfig>, transport: MeshTransport, spans?: Spans): Backends {
  const addresses: Record<BackendName, string> = {
    order: config.orderAddr,
    payment: config.paymentAddr,
    inventory: config.inventoryAddr,
    notification: config.notificationAddr,
  };
  const scheme = transport.mode === "mtls" ? "https" : "http";
  const urlOf = (backend: BackendName) => `${scheme}://${addresses[backend]}`;
  const sessions = new Map<BackendName, Http2SessionManager>();
  const transports = new Map<BackendName, ReturnType<typeof createGrpcTransport>>();
  // One session manager per backend, shared by its Connect transport and the lean unary path, kept so close() can
  // end it; it reconnects by itself after a backend restart.
  const sessionOf = (backend: BackendName) => {
    let session = sessions.get(backend);
    if (!session) {
      session = new Http2SessionManager(
        urlOf(backend),
        { pingIntervalMs: 30_000, idleConnectionTimeoutMs: 60_000 },
        transport.http2Options(backend),
      );
      sessions.set(backend, session);
    }
    return session;
  };
  const transportOf = (backend: BackendName) => {
    let transport = transports.get(backend);
    if (!transport) {
      transport = createGrpcTransport({
        baseUrl: urlOf(backend),
        sessionManager: sessionOf(backend),
        defaultTimeoutMs: config.backendTimeoutMs,
        interceptors: spans === undefined ? [] : [clientSpanInterceptor(spans, addresses[backend])],
      });
      transports.set(backend, transport);
    }
    return transport;
  };
  const backendOf = new Map<string, BackendName>(PUBLIC_SERVICES.map(({ service, backend }) => [service.typeName, backend]));
  const clients = new Map<string, Client<DescService>>();

  /** forwardedRecord is forwardHeaders as a plain object (the lean unary path needs no Headers instance). */
  const forwardedRecord = (from: NodeRequest | HandlerContext): Record<string, string> => {
    const headers: Record<string, string> = {};
    const context = contextOf(from);
    if (context) {
      headers["traceparent"] = context.traceparent;
      if (context.principal) {
        headers[PRINCIPAL_HEADERS.subject] = context.principal.subject;
        headers[PRINCIPAL_HEADERS.scopes] = context.principal.scopes.join(" ");
      }
    }
    for (const name of FORWARDED_HEADERS) {
      const value = isHandlerContext(from) ? (from.requestHeader.get(name) ?? undefined) : headerOf(from, name);
      if (value !== undefined) headers[name] = value;
    }
    return headers;
  };
  const forwardHeaders = (from: NodeRequest | HandlerContext): Headers => new Headers(forwardedRecord(from));
  const timeoutOf = (from: NodeRequest | HandlerContext, timeoutMs?: number) =>
    (isHandlerContext(from) ? from.timeoutMs() : undefined) ?? timeoutMs ?? config.backendTimeoutMs;

  return {
    clientFor<S extends DescService>(service: S): Client<S> {
      let client = clients.get(service.typeName);
      if (!client) {
        const backend = backendOf.get(service.typeName);
        if (!backend) throw new Error(`no backend serves ${service.typeName}`);
        client = createClient(service, transportOf(backend)) as Client<DescService>;
        clients.set(service.typeName, client);
      }
      return client as unknown as Client<S>;
    },
    opsClient: (backend) => createClient(OpsService, transportOf(backend)),
    healthClient: (backend) => createClient(Health, transportOf(backend)),
    addressOf: (backend) => addresses[backend],
    forwardHeaders,
    callOptions(from, options = {}) {
      const ctx = isHandlerContext(from) ? from : undefined;
      return {
        headers: forwardHeaders(from),
        timeoutMs: timeoutOf(from, options.timeoutMs),
        signal: options.signal ?? ctx?.signal,
      };
    },
    unary(service, method, input, from, options = {}) {
      const backend = backendOf.get(service.typeName);
      if (!backend) throw new Error(`no backend serves ${service.typeName}`);
      const headers = forwardedRecord(from);
      const call = () =>
        callUnary(sessionOf(backend), method, input, {
          headers,
          timeoutMs: timeoutOf(from),
          signal: options.signal ?? (isHandlerContext(from) ? from.signal : undefined),
          cancel: options.cancel,
        });
      if (spans === undefined) return call();
      const span = beginBackendCall(spans, `${service.typeName}/${method.name}`, addresses[backend], headers["traceparent"], (value) => {
        headers["traceparent"] = value;
      });
      return call().then(
        (result) => {
          endBackendCall(span);
          return result;
        },
        (error: unknown) => {
          endBackendCall(span, error);
          throw error;
        },
      );
    },
    close() {
      for (const session of sessions.values()) session.abort();
      sessions.clear();
      transports.clear();
      clients.clear();
    },
  };
}

function isHandlerContext(from: NodeRequest | HandlerContext): from is HandlerContext {
  return "requestHeader" in from && "values" in from;
}

function contextOf(from: NodeRequest | HandlerContext): RequestContext | undefined {
  return isHandlerContext(from) ? from.values.get(requestContextKey) : requestContext(from);
}
