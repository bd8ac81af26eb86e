/**
 * compose.yaml runs the whole mesh, and CI checks it without Docker: the file parses (anchors and merge keys
 * resolved), every key is one the Compose Specification's JSON schema defines (the schema as the docker-compose
 * package ships it), every service the README names is there, and each node process's environment holds only keys
 * its own config loader reads, with addresses and ports that point at each other. Where Docker exists,
 * `docker compose config` has the last word.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig as loadGatewayConfig } from "../gateway/src/config.js";
import { loadConfig as loadInventoryConfig } from "../services/inventory/src/config.js";
import { loadConfig as loadNotificationConfig } from "../services/notification/src/config.js";
import { loadConfig as loadOrderConfig } from "../services/order/src/config.js";
import { loadConfig as loadPaymentConfig } from "../services/payment/src/config.js";
import { ROOT } from "../scripts/mesh/child.js";

/** Json is YAML/JSON under test, read freely. */
type Json = any;

const COMPOSE_FILE = path.join(ROOT, "compose.yaml");
const compose: Json = parse(readFileSync(COMPOSE_FILE, "utf8"), { merge: true });
const spec: Json = JSON.parse(readFileSync(createRequire(import.meta.url).resolve("docker-compose/schema/compose-spec.json"), "utf8"));

/** LOGGER_KEYS are read by services/shared/src/logger.ts, in every process, besides its config loader. */
const LOGGER_KEYS = ["LOG_FORMAT", "LOG_LEVEL"];

/** NODE_PROCESSES are the node containers and the config loader each runs at start-up. */
const NODE_PROCESSES: Record<string, (env: Record<string, string>) => unknown> = {
  order: loadOrderConfig,
  payment: loadPaymentConfig,
  inventory: loadInventoryConfig,
  notification: loadNotificationConfig,
  gateway: loadGatewayConfig,
};

/** keysOf checks a mapping's keys against a schema object's properties; `x-` extensions are always allowed. */
function unknownKeys(value: Json, schema: Json): string[] {
  return Object.keys(value).filter((key) => !key.startsWith("x-") && !(key in (schema.properties ?? {})));
}

/** readKeys runs a config loader on an environment and returns which variables it read. */
function readKeys(load: (env: Record<string, string>) => unknown, env: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get(target, key) {
      if (typeof key === "string") read.add(key);
      return target[key as string];
    },
  });
  load(recording);
  return read;
}

function environmentOf(service: string): Record<string, string> {
  return Object.fromEntries(Object.entries(compose.services[service].environment ?? {}).map(([k, v]) => [k, String(v)]));
}

describe("compose.yaml", () => {
  it("when checked against the Compose Specification schema, then every top-level and service key is defined there", () => {
    expect(unknownKeys(compose, spec)).toEqual([]);
    for (const [name, service] of Object.entries<Json>(compose.services)) {
      expect(unknownKeys(service, spec.definitions.service), name).toEqual([]);
      for (const dependency of Object.values<Json>(service.depends_on ?? {})) {
        expect(
          spec.definitions.service.properties.depends_on.oneOf[1].patternProperties["^[a-zA-Z0-9._-]+$"].properties.condition.enum,
        ).toContain(dependency.condition);
      }
    }
  });

  it("when read, then it is the whole mesh the README promises: the brokers, the topics, the SMTP sink, four services and the gateway", () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      "gateway",
      "inventory",
      "kafka",
      "kafka-init",
      "mailpit",
      "notification",
      "order",
      "payment",
      "rabbitmq",
    ]);
  });

  it("when order and notification start, then both reach the one RabbitMQ, notification sends to Mailpit's SMTP port, and it waits for both", () => {
    const order = environmentOf("order");
    const notification = environmentOf("notification");

    expect(order["RABBITMQ_URL"]).toBe(notification["RABBITMQ_URL"]);
    expect(new URL(notification["RABBITMQ_URL"]!).hostname).toBe("rabbitmq");
    expect(notification["SMTP_URL"]).toBe("smtp://mailpit:1025");
    expect(compose.services.notification.depends_on).toEqual({
      rabbitmq: { condition: "service_healthy" },
      mailpit: { condition: "service_healthy" },
    });
    expect(compose.services.notification.command).toEqual(["node", "--enable-source-maps", "dist/notification/main.js"]);
  });

  it.each(Object.keys(NODE_PROCESSES))("when %s starts, then its config loader accepts its environment and reads every key", (name) => {
    const env = environmentOf(name);

    const read = readKeys(NODE_PROCESSES[name]!, env);

    expect(Object.keys(env).filter((key) => !read.has(key) && !LOGGER_KEYS.includes(key))).toEqual([]);
    // The public port for everyone; /metrics (METRICS_PORT, the loader's default here) for a local Prometheus only.
    const { metricsPort } = NODE_PROCESSES[name]!(env) as { metricsPort: number };
    expect(compose.services[name].ports).toEqual([`${env["PORT"]}:${env["PORT"]}`, `127.0.0.1:${metricsPort}:${metricsPort}`]);
  });

  it("when the gateway starts, then it reaches each backend at its service name and port, after they are healthy", () => {
    const env = environmentOf("gateway");
    const gateway = compose.services.gateway;

    for (const backend of ["order", "payment", "inventory"]) {
      expect(env[`${backend.toUpperCase()}_ADDR`]).toBe(`${backend}:${environmentOf(backend)["PORT"]}`);
      expect(gateway.depends_on[backend]).toEqual({ condition: "service_healthy" });
    }
    expect(env["KAFKA_BROKERS"]).toBe("kafka:9092");
    expect(env["KAFKA_GROUP_IDS"]?.split(",").sort()).toEqual(
      ["order", "payment", "inventory"].map((s) => environmentOf(s)["KAFKA_GROUP_ID"]).sort(),
    );
    expect(gateway.command).toEqual(["node", "--enable-source-maps", "dist/gateway/main.js"]);
  });

  it("when Docker is installed, then `docker compose config` accepts the file too", () => {
    let docker = true;
    try {
      execFileSync("docker", ["compose", "version"], { stdio: "ignore" });
    } catch {
      docker = false;
    }
    // Without Docker the schema and structure checks above are the whole check; with it, Compose itself decides.
    if (docker) expect(() => execFileSync("docker", ["compose", "-f", COMPOSE_FILE, "config", "-q"], { stdio: "pipe" })).not.toThrow();
    expect(compose.name).toBe("shopmesh");
  });
});

describe("the image compose.yaml builds (Dockerfile)", () => {
  const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
  const pkg: Json = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));

  it("when a container runs `node`, then it is the Node major the project pins (better-sqlite3 13 needs 22+)", () => {
    const pinned = /(\d+)/.exec(pkg.devDependencies.node)?.[1];

    expect(/^FROM node:(\d+)/m.exec(dockerfile)?.[1]).toBe(pinned);
  });

  it("when the gateway container serves the web UI, then the image has built it where WEB_DIR points by default", () => {
    expect(dockerfile).toMatch(/^COPY web \.\/web$/m);
    expect(dockerfile).toMatch(/^RUN npm run build && npm run build:web$/m);
    expect(loadGatewayConfig({}).webDir).toBe(path.join(ROOT, "web", "dist"));
  });
});
