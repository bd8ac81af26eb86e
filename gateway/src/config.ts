import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  deepFreeze,
  readBool,
  readInt,
  readKafkaTls,
  readList,
  readMeshSecurity,
  readString,
  readTracingSettings,
  type Env,
  type MeshSecurity,
  type TracingSettings,
} from "#shared/config.js";

/**
 * repoRoot is the nearest directory at or above `moduleUrl` holding a package.json: the repository root both from
 * the sources (gateway/src/…) and from a bundle (dist/gateway/main.js), whose depths differ. Falls back to the
 * working directory.
 */
export function repoRoot(moduleUrl: string): string {
  for (let dir = path.dirname(fileURLToPath(moduleUrl)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

/** ROOT is the repository root, so relative defaults (web/dist) do not depend on the working directory. */
const ROOT = repoRoot(import.meta.url);

/**
 * DEV_JWT_SECRET signs and verifies tokens when JWT_SECRET is not set. It is for local development only: it is
 * public (it is in this file), so `loadConfig` refuses it when NODE_ENV=production.
 */
export const DEV_JWT_SECRET = "shopmesh-dev-only-secret-do-not-use-in-production";

/** SUPPORTED_JWT_ALGORITHMS are the HMAC algorithms a shared JWT_SECRET can verify; `none` is never accepted. */
const SUPPORTED_JWT_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;

/** JwtConfig says which tokens the gateway accepts for writes. */
export interface JwtConfig {
  /** issuer must equal the token's `iss` (JWT_ISSUER, default `shopmesh-dev`). */
  readonly issuer: string;
  /** audience must be in the token's `aud` (JWT_AUDIENCE, default `shopmesh-api`). */
  readonly audience: string;
  /** secret is the HMAC key (JWT_SECRET, at least 32 bytes; a dev-only default outside production). */
  readonly secret: string;
  /** algorithms is the allowlist (JWT_ALGORITHMS, default `HS256`); a token signed otherwise is rejected. */
  readonly algorithms: readonly string[];
}

/** GatewayConfig is the gateway's whole configuration, read once from the environment (see loadConfig). */
export interface GatewayConfig {
  /** host is the interface to bind (HOST, default 127.0.0.1). */
  readonly host: string;
  /** port serves HTTP/1.1 and h2c on one listener (PORT, default 8080; 0 picks a free one). */
  readonly port: number;
  /** metricsPort serves `GET /metrics` on a listener of its own, off the public port (METRICS_PORT, default 9450; 0: any free one). */
  readonly metricsPort: number;
  /** orderAddr, paymentAddr, inventoryAddr are the backends' `host:port` (ORDER_ADDR, PAYMENT_ADDR, INVENTORY_ADDR). */
  readonly orderAddr: string;
  readonly paymentAddr: string;
  readonly inventoryAddr: string;
  /** notificationAddr is the notification service's `host:port` (NOTIFICATION_ADDR, default 127.0.0.1:50054). */
  readonly notificationAddr: string;
  /** backendTimeoutMs is the deadline of a forwarded call whose caller set none (BACKEND_TIMEOUT_MS, default 10 s). */
  readonly backendTimeoutMs: number;
  readonly jwt: JwtConfig;
  /** corsOrigins are the browser origins allowed to call the API (CORS_ORIGINS, comma-separated). */
  readonly corsOrigins: readonly string[];
  /** bodyLimitBytes caps a request body (BODY_LIMIT_BYTES, default 1 MiB): 413 for REST, RESOURCE_EXHAUSTED for RPC. */
  readonly bodyLimitBytes: number;
  /** webDir holds the built web UI (WEB_DIR, default `web/dist` under the repository). */
  readonly webDir: string;
  /** kafkaBrokers feed the ops events panel (KAFKA_BROKERS, default 127.0.0.1:9092). */
  readonly kafkaBrokers: readonly string[];
  /** kafkaTls: the ops panel's Kafka client uses TLS with the gateway's certificate (KAFKA_TLS, as the services). */
  readonly kafkaTls: boolean;
  /** kafkaGroupIds are the service consumer groups whose lag the ops panel shows (KAFKA_GROUP_IDS). */
  readonly kafkaGroupIds: readonly string[];
  /** authDevTokens enables `POST /auth/dev-token` for the web UI's demo login (AUTH_DEV_TOKENS, default false). */
  readonly authDevTokens: boolean;
  /** v1DeprecatedAt and v1Sunset are the published order v1 dates, YYYY-MM-DD (V1_DEPRECATED_AT, V1_SUNSET). */
  readonly v1DeprecatedAt: string;
  readonly v1Sunset: string;
  /** security is how the gateway calls the services: mTLS as `spiffe://shopmesh.local/service/gateway` (config.ts of the kit). */
  readonly security: MeshSecurity;
  /** tracing says where the gateway's spans go (TRACING, ZIPKIN_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT, as the services). */
  readonly tracing: TracingSettings;
  /**
   * zipkinUrl is the Zipkin the order timeline reads spans from (ZIPKIN_URL; default: the origin of ZIPKIN_ENDPOINT,
   * else http://127.0.0.1:9411, where `npm start` runs it).
   */
  readonly zipkinUrl: string;
}

/** The published order v1 dates (docs/versioning.md); the version policy validates them at start-up. */
const DEFAULT_V1_DEPRECATED_AT = "2026-12-01";
const DEFAULT_V1_SUNSET = "2027-06-30";

const DEFAULT_CORS_ORIGINS = ["http://localhost:8080", "http://127.0.0.1:8080", "http://localhost:5173"];

/**
 * loadConfig reads the gateway's environment into a frozen GatewayConfig. It fails fast with a ConfigError naming
 * the variable: a missing or malformed address, an unknown or `none` JWT algorithm, a short secret, the dev
 * secret in production, or a CORS entry that is not an origin.
 */
export function loadConfig(env: Env = process.env): Readonly<GatewayConfig> {
  const production = env["NODE_ENV"] === "production";
  const security = readMeshSecurity(env);
  return deepFreeze({
    host: readString(env, "HOST", "127.0.0.1"),
    port: readInt(env, "PORT", 8080, { min: 0, max: 65_535 }),
    metricsPort: readInt(env, "METRICS_PORT", 9450, { min: 0, max: 65_535 }),
    orderAddr: readAddress(env, "ORDER_ADDR", "127.0.0.1:50051"),
    paymentAddr: readAddress(env, "PAYMENT_ADDR", "127.0.0.1:50052"),
    inventoryAddr: readAddress(env, "INVENTORY_ADDR", "127.0.0.1:50053"),
    notificationAddr: readAddress(env, "NOTIFICATION_ADDR", "127.0.0.1:50054"),
    backendTimeoutMs: readInt(env, "BACKEND_TIMEOUT_MS", 10_000, { min: 1 }),
    jwt: {
      issuer: readString(env, "JWT_ISSUER", "shopmesh-dev"),
      audience: readString(env, "JWT_AUDIENCE", "shopmesh-api"),
      secret: readSecret(env, production),
      algorithms: readAlgorithms(env),
    },
    corsOrigins: readList(env, "CORS_ORIGINS", DEFAULT_CORS_ORIGINS).map((origin) => readOrigin(origin)),
    bodyLimitBytes: readInt(env, "BODY_LIMIT_BYTES", 1024 * 1024, { min: 1 }),
    webDir: path.resolve(ROOT, readString(env, "WEB_DIR", "web/dist")),
    kafkaBrokers: readList(env, "KAFKA_BROKERS", ["127.0.0.1:9092"]),
    kafkaTls: readKafkaTls(env, security),
    kafkaGroupIds: readList(env, "KAFKA_GROUP_IDS", ["shopmesh-order", "shopmesh-payment", "shopmesh-inventory"]),
    authDevTokens: readBool(env, "AUTH_DEV_TOKENS", false),
    v1DeprecatedAt: readString(env, "V1_DEPRECATED_AT", DEFAULT_V1_DEPRECATED_AT),
    v1Sunset: readString(env, "V1_SUNSET", DEFAULT_V1_SUNSET),
    security,
    tracing: readTracingSettings(env),
    zipkinUrl: readZipkinUrl(env),
  });
}

function readZipkinUrl(env: Env): string {
  const endpoint = env["ZIPKIN_ENDPOINT"];
  const fallback = endpoint ? originOf(endpoint, "ZIPKIN_ENDPOINT") : "http://127.0.0.1:9411";
  const value = readString(env, "ZIPKIN_URL", fallback);
  originOf(value, "ZIPKIN_URL"); // validates it
  // A base URL (Zipkin may sit under a path behind a proxy): the API paths are appended to it.
  return value.replace(/\/+$/, "");
}

function originOf(value: string, name: string): string {
  try {
    return new URL(value).origin;
  } catch {
    throw new ConfigError(`environment variable "${name}" is not a URL: "${value}"`);
  }
}

function readAddress(env: Env, name: string, fallback: string): string {
  const value = readString(env, name, fallback);
  // A scheme or path here is a common slip (http://host:port); the transports want host:port only.
  const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65_535) {
    throw new ConfigError(`environment variable "${name}" must be host:port, got "${value}"`);
  }
  return value;
}

function readSecret(env: Env, production: boolean): string {
  const secret = readString(env, "JWT_SECRET", DEV_JWT_SECRET);
  if (production && secret === DEV_JWT_SECRET) {
    throw new ConfigError(`environment variable "JWT_SECRET" must be set in production (the default is dev-only)`);
  }
  // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes).
  if (Buffer.byteLength(secret) < 32) {
    throw new ConfigError(`environment variable "JWT_SECRET" must be at least 32 bytes`);
  }
  return secret;
}

function readAlgorithms(env: Env): string[] {
  const algorithms = readList(env, "JWT_ALGORITHMS", ["HS256"]);
  for (const alg of algorithms) {
    if (!(SUPPORTED_JWT_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new ConfigError(`environment variable "JWT_ALGORITHMS" lists "${alg}"; allowed: ${SUPPORTED_JWT_ALGORITHMS.join(", ")}`);
    }
  }
  return algorithms;
}

function readOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`environment variable "CORS_ORIGINS" has "${value}", which is not an origin`);
  }
  // Browsers send the origin without a path or trailing slash; an entry with one would never match.
  if (url.origin !== value) {
    throw new ConfigError(`environment variable "CORS_ORIGINS" has "${value}"; write it as the origin "${url.origin}"`);
  }
  return value;
}
