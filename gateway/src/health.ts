/**
 * The gateway's health, the Kubernetes way: liveness says the process answers (`/healthz`, `/livez`), readiness
 * says it can serve, which for a stateless edge means its backends can (`/readyz`, and grpc.health.v1 on the same
 * port, so `grpc_health_probe -addr=:8080` and load balancers' gRPC checks work). Readiness asks each backend's own
 * grpc.health.v1 at the time of the question; nothing is cached, so a backend that went away is seen at once.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  type Health,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
  type HealthCheckResponse,
} from "#gen/grpc/health/v1/health_pb.js";
import { PUBLIC_SERVICES, type BackendName, type Backends } from "./backends.js";
import { pathOf, sendJson, type HttpHandler } from "./http-handler.js";
import { codeName } from "./errors.js";

/**
 * ReadinessBackend is a backend the gateway's readiness depends on. The notification service is not one: it only
 * reads the emails sent, so its outage must not take the whole shop's gateway out of the load balancer; its own
 * status still answers grpc.health.v1 Check for shop.notification.v1.NotificationService.
 */
type ReadinessBackend = Exclude<BackendName, "notification">;

/** BACKEND_NAMES are the backends readiness asks, in report order. */
const BACKEND_NAMES: readonly ReadinessBackend[] = ["order", "payment", "inventory"];

/** CHECK_TIMEOUT_MS bounds each backend's answer: a probe must answer in about a second. */
const CHECK_TIMEOUT_MS = 1_000;

/** WATCH_INTERVAL_MS is how often Watch re-asks the backends to notice a change. */
const WATCH_INTERVAL_MS = 2_000;

/** ReadinessReport is every backend's status (`SERVING`, `NOT_SERVING`, or the failure, e.g. `UNAVAILABLE: …`). */
export interface ReadinessReport {
  readonly serving: boolean;
  readonly backends: Readonly<Record<ReadinessBackend, string>>;
}

/** Readiness asks the backends whether the gateway can serve. */
export interface Readiness {
  /** check asks every backend's overall health (service "") at once. */
  check(): Promise<ReadinessReport>;
  /** statusOf is one service's status: "" is the gateway's overall one; undefined for a service it does not serve. */
  statusOf(service: string): Promise<Status | undefined>;
}

/** createReadiness asks the backends through their grpc.health.v1. */
export function createReadiness(backends: Backends): Readiness {
  const backendOf = new Map<string, BackendName>(PUBLIC_SERVICES.map(({ service, backend }) => [service.typeName, backend]));
  const ask = async (backend: BackendName, service: string): Promise<string> => {
    try {
      const { status } = await backends.healthClient(backend).check({ service }, { timeoutMs: CHECK_TIMEOUT_MS });
      return Status[status] ?? String(status);
    } catch (err) {
      const error = ConnectError.from(err);
      return `${codeName(error.code)}: ${error.rawMessage}`;
    }
  };
  const check = async (): Promise<ReadinessReport> => {
    const answers = await Promise.all(BACKEND_NAMES.map((backend) => ask(backend, "")));
    const report = Object.fromEntries(BACKEND_NAMES.map((backend, i) => [backend, answers[i]!])) as Record<ReadinessBackend, string>;
    return { serving: answers.every((answer) => answer === "SERVING"), backends: report };
  };
  return {
    check,
    async statusOf(service) {
      if (service === "") return (await check()).serving ? Status.SERVING : Status.NOT_SERVING;
      const backend = backendOf.get(service);
      if (!backend) return undefined;
      return (await ask(backend, service)) === "SERVING" ? Status.SERVING : Status.NOT_SERVING;
    },
  };
}

/** createProbeHandler answers `/healthz` and `/livez` (liveness: always SERVING) and `/readyz` (200 or 503). */
export function createProbeHandler(readiness: Readiness): HttpHandler {
  return async (req, res) => {
    const path = pathOf(req);
    if (path === "/healthz" || path === "/livez") {
      sendJson(res, 200, { status: "SERVING" });
      return true;
    }
    if (path !== "/readyz") return false;
    const report = await readiness.check();
    sendJson(res, report.serving ? 200 : 503, { status: report.serving ? "SERVING" : "NOT_SERVING", backends: report.backends });
    return true;
  };
}

/**
 * healthImpl is grpc.health.v1.Health for the gateway: Check and List answer from readiness (NOT_FOUND for a
 * service it does not serve), Watch sends the status, then every change, until the caller goes away.
 */
export function healthImpl(readiness: Readiness, services: readonly string[]): ServiceImpl<typeof Health> {
  const response = (status: Status): HealthCheckResponse => create(HealthCheckResponseSchema, { status });
  return {
    async check({ service }) {
      const status = await readiness.statusOf(service);
      if (status === undefined) throw new ConnectError(`unknown service ${service}`, Code.NotFound);
      return response(status);
    },
    async list() {
      const names = ["", ...services];
      const statuses = await Promise.all(names.map((name) => readiness.statusOf(name)));
      return { statuses: Object.fromEntries(names.map((name, i) => [name, response(statuses[i] ?? Status.UNKNOWN)])) };
    },
    async *watch({ service }, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = (await readiness.statusOf(service)) ?? Status.SERVICE_UNKNOWN;
        if (status !== last) yield response(status);
        last = status;
        await sleep(WATCH_INTERVAL_MS, ctx.signal);
      }
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
