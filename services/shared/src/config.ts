import { DEFAULT_PKI_DIR } from "./security/pki-layout.js";

/**
 * Config helpers: every process reads its settings from the environment once, at
 * start-up, into a frozen typed object, and fails fast naming the variable.
 * Each service's src/config.ts declares its keys with these readers; that file is
 * where each key is documented, once.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export type Env = Readonly<Record<string, string | undefined>>;

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function missing(name: string): never {
  throw new ConfigError(`environment variable "${name}" not set`);
}

/** readString returns the variable, its fallback, or throws naming it. */
export function readString(env: Env, name: string, fallback?: string): string {
  return raw(env, name) ?? fallback ?? missing(name);
}

/** readInt parses a base-10 integer within [min, max]. */
export function readInt(env: Env, name: string, fallback?: number, range: { min?: number; max?: number } = {}): number {
  const text = raw(env, name);
  if (text === undefined) return fallback ?? missing(name);
  const value = Number(text);
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  if (!/^-?\d+$/.test(text) || value < min || value > max) {
    throw new ConfigError(`environment variable "${name}" must be an integer between ${min} and ${max}, got "${text}"`);
  }
  return value;
}

/** readList splits a comma-separated variable, dropping blanks. */
export function readList(env: Env, name: string, fallback?: readonly string[]): string[] {
  const text = raw(env, name);
  if (text === undefined) return [...(fallback ?? missing(name))];
  const items = text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length === 0) throw new ConfigError(`environment variable "${name}" must list at least one value`);
  return items;
}

/** readBool accepts true/false/1/0/yes/no. */
export function readBool(env: Env, name: string, fallback?: boolean): boolean {
  const text = raw(env, name)?.toLowerCase();
  if (text === undefined) return fallback ?? missing(name);
  if (["true", "1", "yes"].includes(text)) return true;
  if (["false", "0", "no"].includes(text)) return false;
  throw new ConfigError(`environment variable "${name}" must be true or false, got "${text}"`);
}

/** deepFreeze makes a loaded config immutable, so no module can change it later. */
export function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** RetrySettings mirrors the event bus's RetryPolicy, kept here so config does not import the bus. */
export interface RetrySettings {
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * ServiceSettings are the keys every backend service reads, documented once here (docs/architecture.md lists them):
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `HOST` | `127.0.0.1` | interface to bind (compose sets 0.0.0.0) |
 * | `PORT` | per service | gRPC port; `0` picks a free one (tests) |
 * | `METRICS_PORT` | per service (order 9451, payment 9452, inventory 9453) | HTTP port of `GET /metrics` (Prometheus), bound on HOST apart from the gRPC port; `0` picks a free one (tests) |
 * | `DATA_DIR` | `.data/<service>` | where the service's own SQLite file lives |
 * | `KAFKA_BROKERS` | `127.0.0.1:9092` | comma-separated bootstrap brokers |
 * | `KAFKA_TLS` | `false` | `1`: connect to Kafka over TLS with this process's certificate from PKI_DIR, accepting only the broker's identity (KAFKA_BROKERS then names the TLS listener; `npm start` sets both; needs mTLS, not MESH_INSECURE) |
 * | `KAFKA_GROUP_ID` | `shopmesh-<service>` | the service's consumer group |
 * | `KAFKA_FROM_BEGINNING` | `true` | where a group without committed offsets starts |
 * | `EVENT_RETRY_ATTEMPTS` | `5` | handler calls per event (the first included) before it is dead-lettered |
 * | `EVENT_RETRY_INITIAL_MS` | `200` | backoff before the second call; doubles per attempt |
 * | `EVENT_RETRY_MAX_MS` | `5000` | cap of that backoff |
 * | `SQLITE_SYNCHRONOUS` | `FULL` | durability of business commits: FULL (fsync per commit) or NORMAL (see database.ts) |
 * | `KAFKA_START_TIMEOUT_MS` | `60000` | how long start-up waits for Kafka (reachable, topics there, group joined) |
 * | `SHUTDOWN_DRAIN_MS` | `500` | after SIGTERM, how long health says NOT_SERVING before streams end and the port closes |
 * | `SHUTDOWN_GRACE_MS` | `10000` | how long in-flight unary calls may take to finish after that, before they are cancelled |
 * | `LOG_LEVEL` / `LOG_FORMAT` | `info` / pretty in a terminal | read by logger.ts |
 * | `MESH_INSECURE` | `false` | `1`: plaintext gRPC, no identities, the access policy not enforced (a warning at start) |
 * | `PKI_DIR` | `.data/pki` | the mesh's CA and certificates (`npm run certs`); see {@link readMeshSecurity} |
 * | `PKI_REFRESH_MS` | `60000` | how often certificates are re-read from PKI_DIR, so a rotation needs no restart |
 * | `ACCESS_POLICY_FILE` | `policy/access.yaml` | which identity may call which method |
 * | `TRACING` | `off`, or `otlp` when `OTEL_EXPORTER_OTLP_ENDPOINT` is set | `off`, `zipkin` or `otlp`: where this process's spans go; see {@link readTracingSettings} |
 * | `ZIPKIN_ENDPOINT` | `http://127.0.0.1:9411/api/v2/spans` | (TRACING=zipkin) Zipkin's span collector |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | unset | OTLP/HTTP base URL (`/v1/traces` is appended); set, it means TRACING=otlp |
 *
 * The service kit (services/shared/src/kit) reads the last three; a stop that outlasts drain + grace + the kit's
 * close budget is cut short by the runtime (runtime.ts), naming the step that was still running.
 */
export interface ServiceSettings {
  readonly host: string;
  readonly port: number;
  /** metricsPort serves `GET /metrics` on a listener of its own (METRICS_PORT; 0 picks a free one). */
  readonly metricsPort: number;
  readonly dataDir: string;
  readonly kafkaBrokers: readonly string[];
  /** kafkaTls: the Kafka client connects over TLS with the process's own certificate (KAFKA_TLS). */
  readonly kafkaTls: boolean;
  readonly kafkaGroupId: string;
  readonly kafkaFromBeginning: boolean;
  readonly eventRetry: RetrySettings;
  readonly sqliteSynchronous: "FULL" | "NORMAL";
  readonly kafkaStartTimeoutMs: number;
  readonly shutdown: ShutdownSettings;
  readonly security: MeshSecurity;
  readonly tracing: TracingSettings;
}

/**
 * MeshSecurity is how a process talks to the rest of the mesh: mutual TLS with the mesh's CA and the access
 * policy (the default), or plaintext, only when MESH_INSECURE=1 asks for it.
 */
export type MeshSecurity =
  | { readonly mode: "mtls"; readonly pkiDir: string; readonly refreshMs: number; readonly policyFile: string }
  | { readonly mode: "insecure" };

/** readMeshSecurity reads MESH_INSECURE, PKI_DIR, PKI_REFRESH_MS and ACCESS_POLICY_FILE (services and gateway alike). */
export function readMeshSecurity(env: Env): MeshSecurity {
  if (readBool(env, "MESH_INSECURE", false)) return { mode: "insecure" };
  return {
    mode: "mtls",
    pkiDir: readString(env, "PKI_DIR", DEFAULT_PKI_DIR),
    refreshMs: readInt(env, "PKI_REFRESH_MS", 60_000, { min: 50, max: 86_400_000 }),
    policyFile: readString(env, "ACCESS_POLICY_FILE", "policy/access.yaml"),
  };
}

/**
 * readKafkaTls reads KAFKA_TLS (services and gateway alike). TLS to Kafka presents the process's certificate, so it
 * needs the mesh's PKI: with MESH_INSECURE=1 it is refused, naming both, rather than quietly left plaintext.
 */
export function readKafkaTls(env: Env, security: MeshSecurity): boolean {
  const tls = readBool(env, "KAFKA_TLS", false);
  if (tls && security.mode === "insecure") {
    throw new ConfigError(
      'environment variable "KAFKA_TLS" is 1 but "MESH_INSECURE" is 1: TLS to Kafka presents the process\'s certificate; unset one of them',
    );
  }
  return tls;
}

/** ShutdownSettings time a graceful stop: NOT_SERVING for `drainMs`, then at most `graceMs` to drain calls. */
export interface ShutdownSettings {
  readonly drainMs: number;
  readonly graceMs: number;
}

/**
 * readServiceSettings reads the keys every service shares; each service's config.ts adds its own. A service with no
 * documented metrics port (a test's) gets 0: any free one.
 */
export function readServiceSettings(env: Env, service: string, defaultPort: number, defaultMetricsPort = 0): ServiceSettings {
  const security = readMeshSecurity(env);
  return {
    host: readString(env, "HOST", "127.0.0.1"),
    port: readInt(env, "PORT", defaultPort, { min: 0, max: 65535 }),
    metricsPort: readInt(env, "METRICS_PORT", defaultMetricsPort, { min: 0, max: 65535 }),
    dataDir: readString(env, "DATA_DIR", `.data/${service}`),
    kafkaBrokers: readList(env, "KAFKA_BROKERS", ["127.0.0.1:9092"]),
    kafkaTls: readKafkaTls(env, security),
    kafkaGroupId: readString(env, "KAFKA_GROUP_ID", `shopmesh-${service}`),
    kafkaFromBeginning: readBool(env, "KAFKA_FROM_BEGINNING", true),
    eventRetry: {
      attempts: readInt(env, "EVENT_RETRY_ATTEMPTS", 5, { min: 1, max: 100 }),
      initialDelayMs: readInt(env, "EVENT_RETRY_INITIAL_MS", 200, { min: 0, max: 60_000 }),
      maxDelayMs: readInt(env, "EVENT_RETRY_MAX_MS", 5_000, { min: 0, max: 600_000 }),
    },
    sqliteSynchronous: readChoice(env, "SQLITE_SYNCHRONOUS", ["FULL", "NORMAL"] as const, "FULL"),
    kafkaStartTimeoutMs: readInt(env, "KAFKA_START_TIMEOUT_MS", 60_000, { min: 1_000, max: 3_600_000 }),
    shutdown: {
      drainMs: readInt(env, "SHUTDOWN_DRAIN_MS", 500, { min: 0, max: 300_000 }),
      graceMs: readInt(env, "SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 300_000 }),
    },
    security,
    tracing: readTracingSettings(env),
  };
}

/**
 * TracingSettings say where a process exports its OpenTelemetry spans (services/shared/src/tracing): nowhere (`off`:
 * no tracer provider is built, so the RPC adapter starts no spans), to Zipkin's collector, or to an OTLP/HTTP
 * endpoint (a collector, Jaeger, Tempo).
 */
export type TracingSettings =
  | { readonly mode: "off" }
  | { readonly mode: "zipkin"; readonly endpoint: string }
  | { readonly mode: "otlp"; readonly endpoint: string };

/** DEFAULT_ZIPKIN_ENDPOINT is the collector of `npm run zipkin:start` (scripts/zipkin.sh) on its default port. */
export const DEFAULT_ZIPKIN_ENDPOINT = "http://127.0.0.1:9411/api/v2/spans";

/**
 * readTracingSettings reads TRACING (off | zipkin | otlp), ZIPKIN_ENDPOINT and OTEL_EXPORTER_OTLP_ENDPOINT (services
 * and gateway alike). OTEL_EXPORTER_OTLP_ENDPOINT is the OpenTelemetry-wide variable a collector setup already
 * exports, so setting it is enough to mean OTLP; TRACING=zipkin beside it is refused, naming both, rather than one
 * of them silently ignored. TRACING=otlp without it is refused too: there is no OTLP endpoint to guess.
 */
export function readTracingSettings(env: Env): TracingSettings {
  const otlp = raw(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  const mode = readChoice(env, "TRACING", ["off", "zipkin", "otlp"] as const, otlp === undefined ? "off" : "otlp");
  switch (mode) {
    case "off":
      return { mode };
    case "zipkin":
      if (otlp !== undefined) {
        throw new ConfigError(
          'environment variable "TRACING" is zipkin but "OTEL_EXPORTER_OTLP_ENDPOINT" is set, which means OTLP; unset one of them',
        );
      }
      return { mode, endpoint: readUrl(env, "ZIPKIN_ENDPOINT", DEFAULT_ZIPKIN_ENDPOINT) };
    case "otlp":
      if (otlp === undefined) throw new ConfigError('environment variable "TRACING" is otlp but "OTEL_EXPORTER_OTLP_ENDPOINT" is not set');
      // The base URL, as OpenTelemetry's own variable means it: the traces path is appended (the spec's rule).
      return { mode, endpoint: `${readUrl(env, "OTEL_EXPORTER_OTLP_ENDPOINT").replace(/\/+$/, "")}/v1/traces` };
  }
}

/** readUrl reads an http(s) URL, failing at start rather than at the first export. */
function readUrl(env: Env, name: string, fallback?: string): string {
  const text = readString(env, name, fallback);
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new ConfigError(`environment variable "${name}" must be an http(s) URL, got "${text}"`);
  }
  return text;
}

/** readChoice reads one of a fixed set of values (case-insensitive), naming the allowed ones when it is not. */
function readChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const text = raw(env, name)?.toUpperCase();
  if (text === undefined) return fallback;
  const match = choices.find((choice) => choice.toUpperCase() === text);
  if (match === undefined) {
    throw new ConfigError(`environment variable "${name}" must be one of ${choices.join(", ")}, got "${env[name]}"`);
  }
  return match;
}

/**
 * CommandBusSettings say which broker carries commands (services/shared/src/commands) and how a consumer retries:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `COMMAND_BUS` | `rabbitmq` | `rabbitmq` or `sqs` (SNS → SQS; goaws locally) |
 * | `RABBITMQ_URL` | `amqp://guest:guest@127.0.0.1:5672` | (rabbitmq) the broker; `npm run rabbitmq:start` runs one there |
 * | `SQS_ENDPOINT` | `http://127.0.0.1:4100` | (sqs) SNS and SQS endpoint; `npm run goaws:start` runs goaws there |
 * | `AWS_REGION` | `us-east-1` | (sqs) the region the SDK signs for |
 * | `COMMAND_RETRY_ATTEMPTS` / `_INITIAL_MS` / `_MAX_MS` | `5` / `1000` / `30000` | handler calls per command before the parking lot, and the doubling backoff between them (SQS rounds it up to whole seconds) |
 * | `COMMAND_PREFETCH` | `10` | deliveries the broker hands a consumer before it acknowledges (SQS: the receive batch, at most 10) |
 * | `COMMAND_SEND_TIMEOUT_MS` | `5000` | how long a send waits for the broker before it fails |
 *
 * Only a service that sends or consumes commands reads these, so the others start without a broker for them.
 */
export type CommandBusSettings = (
  | { readonly kind: "rabbitmq"; readonly url: string }
  | { readonly kind: "sqs"; readonly endpoint: string; readonly region: string }
) & {
  readonly retry: RetrySettings;
  readonly prefetch: number;
  readonly sendTimeoutMs: number;
};

export const DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672";
export const DEFAULT_SQS_ENDPOINT = "http://127.0.0.1:4100";

/** readCommandBusSettings reads COMMAND_BUS and the keys of the broker it names; a key of the other one is ignored. */
export function readCommandBusSettings(env: Env): CommandBusSettings {
  const common = {
    retry: {
      attempts: readInt(env, "COMMAND_RETRY_ATTEMPTS", 5, { min: 1, max: 100 }),
      initialDelayMs: readInt(env, "COMMAND_RETRY_INITIAL_MS", 1_000, { min: 1, max: 3_600_000 }),
      maxDelayMs: readInt(env, "COMMAND_RETRY_MAX_MS", 30_000, { min: 1, max: 3_600_000 }),
    },
    prefetch: readInt(env, "COMMAND_PREFETCH", 10, { min: 1, max: 1_000 }),
    sendTimeoutMs: readInt(env, "COMMAND_SEND_TIMEOUT_MS", 5_000, { min: 100, max: 300_000 }),
  };
  const kind = readChoice(env, "COMMAND_BUS", ["rabbitmq", "sqs"] as const, "rabbitmq");
  if (kind === "rabbitmq") {
    const url = readString(env, "RABBITMQ_URL", DEFAULT_RABBITMQ_URL);
    if (!/^amqps?:\/\//.test(url))
      throw new ConfigError(`environment variable "RABBITMQ_URL" must be an amqp:// or amqps:// URL, got "${url}"`);
    return { kind, url, ...common };
  }
  return {
    kind,
    endpoint: readUrl(env, "SQS_ENDPOINT", DEFAULT_SQS_ENDPOINT),
    region: readString(env, "AWS_REGION", "us-east-1"),
    ...common,
  };
}
