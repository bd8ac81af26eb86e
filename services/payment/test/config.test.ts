import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";

describe("payment config", () => {
  it("when nothing is set, then the documented defaults apply", () => {
    expect(loadConfig({})).toEqual({
      host: "127.0.0.1",
      port: 50052,
      metricsPort: 9452,
      dataDir: path.resolve(".data/payment"),
      kafkaBrokers: ["127.0.0.1:9092"],
      kafkaGroupId: "shopmesh-payment",
      kafkaFromBeginning: true,
      paymentCurrencies: ["EUR"],
      eventRetry: { attempts: 5, initialDelayMs: 200, maxDelayMs: 5_000 },
      sqliteSynchronous: "FULL",
      kafkaStartTimeoutMs: 60_000,
      shutdown: { drainMs: 500, graceMs: 10_000 },
      security: { mode: "mtls", pkiDir: ".data/pki", refreshMs: 60_000, policyFile: "policy/access.yaml" },
      kafkaTls: false,
      tracing: { mode: "off" },
    });
  });

  it("when currencies and a retry policy are set, then they are parsed and the result is frozen", () => {
    const config = loadConfig({ PAYMENT_CURRENCIES: "eur, usd", EVENT_RETRY_ATTEMPTS: "2", EVENT_RETRY_INITIAL_MS: "10" });
    expect(config.paymentCurrencies).toEqual(["EUR", "USD"]);
    expect(config.eventRetry).toMatchObject({ attempts: 2, initialDelayMs: 10 });
    expect(Object.isFrozen(config.eventRetry)).toBe(true);
  });

  it("when a value is malformed, then loading fails naming the variable", () => {
    expect(() => loadConfig({ PAYMENT_CURRENCIES: "EURO" })).toThrow(/"PAYMENT_CURRENCIES"/);
    expect(() => loadConfig({ PORT: "http" })).toThrow(/"PORT"/);
    expect(() => loadConfig({ EVENT_RETRY_ATTEMPTS: "0" })).toThrow(/"EVENT_RETRY_ATTEMPTS"/);
    expect(() => loadConfig({ KAFKA_FROM_BEGINNING: "maybe" })).toThrow(/"KAFKA_FROM_BEGINNING"/);
  });
});
