import { Code, ConnectError } from "@connectrpc/connect";
import { Health } from "#gen/grpc/health/v1/health_pb.js";
import { createLogger, type Logger } from "#shared/logger.js";
import { openMeshTransport } from "#shared/security/mesh-transport.js";
import { kafkaSslOf } from "#shared/events/kafka-tls.js";
import { createKafkaClient } from "#shared/events/kafka-client.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { KafkaLagSource, ProcessMetrics, serveMetrics, type MetricsServer } from "#shared/metrics/index.js";
import type { Spans } from "#shared/tracing/spans.js";
import { createTracing, type Tracing } from "#shared/tracing/tracing.js";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { createAuth, type Auth } from "./auth.js";
import { createBackends, PUBLIC_SERVICES, type BackendName, type Backends } from "./backends.js";
import type { GatewayConfig } from "./config.js";
import { createRpcHandler, type ServiceRegistration } from "./connect-routes.js";
import { createCorsHandler } from "./cors.js";
import { createDevTokenHandler } from "./dev-token.js";
import { createProbeHandler, createReadiness, healthImpl } from "./health.js";
import { writeConnectError, writeErrorEnvelope } from "./errors.js";
import { chain, createBodyLimitHandler, pathOf, type HttpHandler, type NodeRequest, type NodeResponse } from "./http-handler.js";
import { createHttpMetricsHandler } from "./http-metrics.js";
import { listen } from "./listener.js";
import { createOpenApiHandler } from "./openapi/index.js";
import { createOpsEventsHandler } from "./ops-events.js";
import { createRequestContext, requestContext } from "./request-context.js";
import { createRestHandler } from "./rest/index.js";
import { createStaticHandler } from "./static.js";
import { createTimelineHandler } from "./why/route.js";
import { endRequestSpan, nameRequestSpan } from "./tracing.js";

/** GatewayDeps is what the chain's feature handlers (REST, OpenAPI, ops events) are built from. */
export interface GatewayDeps {
  readonly config: Readonly<GatewayConfig>;
  readonly backends: Backends;
  readonly auth: Auth;
  /** logger is the gateway's base logger; per-request lines use `requestContext(req).logger` (traceId bound). */
  readonly logger: Logger;
}

/** Gateway is a running gateway. */
export interface Gateway {
  readonly port: number;
  /** url is `http://host:port`, for tests and the start-up log line. */
  readonly url: string;
  /** metricsUrl is `http://host:metricsPort/metrics`, off the public port (METRICS_PORT). */
  readonly metricsUrl: string;
  readonly metrics: ProcessMetrics;
  readonly deps: GatewayDeps;
  /** tracing is the gateway's span pipeline when tracing is on (tests flush it to read their exporter). */
  readonly tracing: Tracing | undefined;
  /** stop closes the listener (requests in flight get `graceMs`), the ops consumer and the backend sessions. */
  stop(graceMs?: number): Promise<void>;
}

/** StartOptions replace parts of the wiring (tests). */
export interface StartOptions {
  logger?: Logger;
  /** spanExporter, when given, receives the gateway's spans whatever TRACING says (an InMemorySpanExporter in tests). */
  spanExporter?: SpanExporter;
}

const BACKEND_NAMES: readonly BackendName[] = ["order", "payment", "inventory"];

/**
 * startGateway wires and starts the gateway on one port, and /metrics on another (METRICS_PORT). The chain, in
 * order: request context (traceId, logger, `trace-id` header) → REST metrics (http-metrics.ts) → CORS → body limit → probes (/healthz, /livez: liveness; /readyz: the backends' grpc.health.v1) → dev token (AUTH_DEV_TOKENS only) → order timeline (why/) → REST → OpenAPI + docs →
 * /ops/events → Connect/gRPC/gRPC-Web (+ reflection, + the gateway's own grpc.health.v1) → static web UI → 404 envelope. The context comes before CORS
 * so that even a refused preflight carries a trace id.
 */
export async function startGateway(config: Readonly<GatewayConfig>, options: StartOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger("gateway");
  const transport = await openMeshTransport("gateway", config.security, logger);
  const kafkaSsl = kafkaSslOf(transport, config.kafkaTls);
  const closeCertificates = () => transport.close();
  const tracing = createTracing(config.tracing, { serviceName: "gateway", exporter: options.spanExporter, logger });
  const backends = createBackends(config, transport, tracing?.spans);
  const auth = createAuth(config.jwt);
  const deps: GatewayDeps = { config, backends, auth, logger };

  const readiness = createReadiness(backends);
  const health = healthImpl(
    readiness,
    PUBLIC_SERVICES.map(({ service }) => service.typeName),
  );
  const rpc = createRpcHandler({
    backends,
    auth,
    readMaxBytes: config.bodyLimitBytes,
    local: [{ service: Health, impl: health as unknown as ServiceRegistration["impl"] }],
  });
  const opsEvents = createOpsEventsHandler({
    kafkaBrokers: config.kafkaBrokers,
    kafkaSsl,
    groupIds: config.kafkaGroupIds,
    backends: BACKEND_NAMES.map((name) => ({ service: name, client: backends.opsClient(name) })),
    commandBackends: [{ service: "notification", client: backends.opsClient("notification") }],
    logger,
  });
  const timeline = createTimelineHandler({
    auth,
    backends,
    kafka: createKafkaClient({ brokers: config.kafkaBrokers, clientId: "shopmesh-gateway-timeline", logger, ssl: kafkaSsl }),
    groupIds: config.kafkaGroupIds,
    zipkinUrl: config.zipkinUrl,
    deadLetters: async (subject) =>
      (await opsEvents.deadLettersOf(subject)).flatMap((summary) =>
        summary.deadLetter === undefined
          ? []
          : [
              {
                eventId: summary.id,
                type: summary.type,
                dlqTopic: dlqTopicOf(summary.deadLetter.originalTopic),
                originalTopic: summary.deadLetter.originalTopic,
                consumer: summary.deadLetter.consumer,
                error: summary.deadLetter.error,
                attempts: summary.deadLetter.attempts,
                time: summary.deadLetter.time,
              },
            ],
      ),
    logger,
  });
  const metrics = new ProcessMetrics("gateway");
  metrics.restRoutes();
  // The gateway reports every service group's lag and every DLQ (KAFKA_GROUP_IDS, as the ops panel): the services
  // report their own, but a stopped service reports nothing, and its lag growing is what an operator must see.
  const lagSource = new KafkaLagSource({
    kafka: createKafkaClient({ brokers: config.kafkaBrokers, clientId: "shopmesh-gateway-metrics", logger, ssl: kafkaSsl }),
    groups: config.kafkaGroupIds.map((groupId) => ({ groupId, topics: Object.values(Topics) })),
    dlqTopics: Object.values(Topics).map(dlqTopicOf),
  });
  metrics.kafka(lagSource);
  const rejectEnvelope = (req: NodeRequest, res: NodeResponse, err: unknown) => writeErrorEnvelope(res, err, requestContext(req).traceId);
  const handlers: HttpHandler[] = [
    createContextHandler(logger, tracing?.spans, rpc.isRpcPath),
    createHttpMetricsHandler(metrics),
    createCorsHandler(config.corsOrigins),
    createBodyLimitHandler(config.bodyLimitBytes, rpc.isRpcPath, (req, res, err) =>
      rpc.isRpcPath(pathOf(req)) ? writeConnectError(res, err, requestContext(req).traceId) : rejectEnvelope(req, res, err),
    ),
    createProbeHandler(readiness),
    ...(config.authDevTokens ? [createDevTokenHandler(auth)] : []),
    timeline,
    createRestHandler(deps),
    createOpenApiHandler(deps),
    opsEvents,
    rpc,
    createStaticHandler(config.webDir, { logger }),
  ];
  const handle = chain(handlers);
  const onRequest = (req: NodeRequest, res: NodeResponse) => {
    handle(req, res).then(
      (handled) => {
        if (!handled) rejectEnvelope(req, res, new ConnectError(`no route for ${req.method} ${pathOf(req)}`, Code.NotFound));
      },
      (err: unknown) => {
        requestContext(req).logger.error({ err, method: req.method, path: pathOf(req) }, "request failed");
        rejectEnvelope(req, res, err);
      },
    );
  };

  let listener: Awaited<ReturnType<typeof listen>>;
  let metricsServer: MetricsServer;
  try {
    metricsServer = await serveMetrics(metrics, config.host, config.metricsPort);
  } catch (err) {
    await lagSource.close();
    await opsEvents.close();
    await timeline.close();
    backends.close();
    closeCertificates();
    throw err;
  }
  try {
    listener = await listen(onRequest, config.host, config.port);
  } catch (err) {
    await metricsServer.close();
    await lagSource.close();
    await opsEvents.close();
    await timeline.close();
    backends.close();
    closeCertificates();
    await tracing?.shutdown().catch(() => undefined);
    throw err;
  }
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${listener.port}`;
  logger.info(
    {
      url,
      metrics: metricsServer.url,
      order: config.orderAddr,
      payment: config.paymentAddr,
      inventory: config.inventoryAddr,
      notification: config.notificationAddr,
    },
    "gateway listening",
  );
  return {
    port: listener.port,
    url,
    metricsUrl: metricsServer.url,
    metrics,
    deps,
    tracing,
    async stop(graceMs = 5_000) {
      await listener.close(graceMs);
      await metricsServer.close();
      await lagSource.close();
      await opsEvents.close();
      await timeline.close();
      backends.close();
      closeCertificates();
      // Last: the requests have ended, so their spans are all in the batch this flushes.
      await tracing?.shutdown();
    },
  };
}

/**
 * createContextHandler starts each request's context (trace id from `traceparent`, or new), answers with the
 * `trace-id` header, and logs one line per finished request with its status and duration: at debug when it
 * succeeded, at info when it failed with a 4xx or was cut off, at warn for a 5xx. One info line per request was
 * ~6 % of the gateway's CPU under load (bench/FINDINGS.md); LOG_LEVEL=debug brings the success lines back.
 */
function createContextHandler(logger: Logger, spans: Spans | undefined, isRpcPath: (path: string) => boolean): HttpHandler {
  return async (req, res) => {
    const started = performance.now();
    const context = createRequestContext(req, logger, spans);
    res.setHeader("trace-id", context.traceId);
    // An RPC's path is its full method name, a name of bounded cardinality; REST names its span by route (rest/).
    if (context.span !== undefined && isRpcPath(pathOf(req))) nameRequestSpan(context.span, pathOf(req).slice(1));
    res.once("close", () => {
      const aborted = !res.writableFinished;
      if (context.span !== undefined) endRequestSpan(context.span, res.statusCode, !aborted);
      const level = res.statusCode >= 500 ? "warn" : res.statusCode >= 400 || aborted ? "info" : "debug";
      if (!logger.isLevelEnabled(level)) return;
      const fields = {
        method: req.method,
        path: pathOf(req),
        status: res.statusCode,
        httpVersion: req.httpVersion,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        ...(context.principal ? { subject: context.principal.subject } : {}),
      };
      // A response that closed before finishing was cut off (client gone, or a stream stopped by shutdown).
      context.logger[level]({ ...fields, ...(aborted ? { aborted: true } : {}) }, "request finished");
    });
    return false;
  };
}
