import { describe, expect, it } from "vitest";
import { ConfigError, readServiceSettings } from "#shared/config.js";

describe("readServiceSettings", () => {
  it("when nothing is set, then every service key has its documented default", () => {
    const settings = readServiceSettings({}, "order", 50051, 9451);

    expect(settings).toEqual({
      host: "127.0.0.1",
      port: 50051,
      metricsPort: 9451,
      dataDir: ".data/order",
      kafkaBrokers: ["127.0.0.1:9092"],
      kafkaTls: false,
      kafkaGroupId: "shopmesh-order",
      kafkaFromBeginning: true,
      eventRetry: { attempts: 5, initialDelayMs: 200, maxDelayMs: 5000 },
      sqliteSynchronous: "FULL",
      kafkaStartTimeoutMs: 60_000,
      shutdown: { drainMs: 500, graceMs: 10_000 },
      security: { mode: "mtls", pkiDir: ".data/pki", refreshMs: 60_000, policyFile: "policy/access.yaml" },
      tracing: { mode: "off" },
    });
  });

  it("when MESH_INSECURE is not set, then the mesh is mTLS; only MESH_INSECURE=1 turns it to plaintext", () => {
    expect(readServiceSettings({ MESH_INSECURE: "0" }, "order", 50051).security.mode).toBe("mtls");
    expect(readServiceSettings({ MESH_INSECURE: "1" }, "order", 50051).security).toEqual({ mode: "insecure" });
    expect(() => readServiceSettings({ MESH_INSECURE: "maybe" }, "order", 50051)).toThrow('"MESH_INSECURE" must be true or false');
  });

  it("when KAFKA_TLS=1, then the Kafka client is to connect over TLS; unset, it stays plaintext", () => {
    expect(readServiceSettings({ KAFKA_TLS: "1" }, "order", 50051).kafkaTls).toBe(true);
    expect(readServiceSettings({ KAFKA_TLS: "0" }, "order", 50051).kafkaTls).toBe(false);
    expect(() => readServiceSettings({ KAFKA_TLS: "tls" }, "order", 50051)).toThrow('"KAFKA_TLS" must be true or false');
  });

  it("when KAFKA_TLS=1 comes with MESH_INSECURE=1, then start-up fails naming both: there is no certificate to present", () => {
    const read = () => readServiceSettings({ KAFKA_TLS: "1", MESH_INSECURE: "1" }, "order", 50051);

    expect(read).toThrow(ConfigError);
    expect(read).toThrow(/"KAFKA_TLS".*"MESH_INSECURE"/);
  });

  it("when SQLITE_SYNCHRONOUS is normal in any case, then it is read as NORMAL", () => {
    expect(readServiceSettings({ SQLITE_SYNCHRONOUS: "normal" }, "payment", 50052).sqliteSynchronous).toBe("NORMAL");
  });

  it("when SQLITE_SYNCHRONOUS is not FULL or NORMAL, then start-up fails naming the variable and the choices", () => {
    const read = () => readServiceSettings({ SQLITE_SYNCHRONOUS: "OFF" }, "payment", 50052);

    expect(read).toThrow(ConfigError);
    expect(read).toThrow('environment variable "SQLITE_SYNCHRONOUS" must be one of FULL, NORMAL, got "OFF"');
  });

  it("when PORT or METRICS_PORT is not a port number, then start-up fails naming the variable", () => {
    expect(() => readServiceSettings({ PORT: "80a" }, "inventory", 50053)).toThrow(/"PORT" must be an integer between 0 and 65535/);
    expect(() => readServiceSettings({ METRICS_PORT: "70000" }, "inventory", 50053)).toThrow(/"METRICS_PORT" must be an integer between 0/);
  });
});
