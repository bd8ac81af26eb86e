import path from "node:path";
import { ConfigError, deepFreeze, readBool, readInt, readList, readString, type Env } from "../../shared/src/config.js";
import type { RetryPolicy } from "../../shared/src/events/event-bus.js";

/**
 * PaymentConfig is the payment service's whole configuration, read from the environment once.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `HOST` | `127.0.0.1` | interface to bind |
 * | `PORT` | `50052` | gRPC port; `0` picks a free one (tests) |
 * | `DATA_DIR` | `.data/payment` | where `payment.db` lives |
 * | `KAFKA_BROKERS` | `127.0.0.1:9092` | comma-separated bootstrap brokers |
 * | `KAFKA_GROUP_ID` | `shopmesh-payment` | consumer group of the order-events subscription |
 * | `KAFKA_FROM_BEGINNING` | `true` | where a group without committed offsets starts |
 * | `PAYMENT_CURRENCIES` | `EUR` | ISO 4217 codes the merchant account accepts; others are an operational fault |
 * | `EVENT_RETRY_ATTEMPTS` | `5` | handler calls per event (first included) before it is dead-lettered |
 * | `EVENT_RETRY_INITIAL_MS` | `200` | backoff before the second call; doubles per attempt |
 * | `EVENT_RETRY_MAX_MS` | `5000` | cap of that backoff |
 * | `LOG_LEVEL` / `LOG_FORMAT` | `info` / pretty in a terminal | read by services/shared/src/logger.ts |
 */
export interface PaymentConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly kafkaBrokers: readonly string[];
  readonly kafkaGroupId: string;
  readonly kafkaFromBeginning: boolean;
  readonly paymentCurrencies: readonly string[];
  readonly eventRetry: RetryPolicy;
}

/** loadConfig parses the environment, failing fast with the variable's name. */
export function loadConfig(env: Env = process.env): Readonly<PaymentConfig> {
  return deepFreeze({
    host: readString(env, "HOST", "127.0.0.1"),
    port: readInt(env, "PORT", 50052, { min: 0, max: 65535 }),
    dataDir: path.resolve(readString(env, "DATA_DIR", ".data/payment")),
    kafkaBrokers: readList(env, "KAFKA_BROKERS", ["127.0.0.1:9092"]),
    kafkaGroupId: readString(env, "KAFKA_GROUP_ID", "shopmesh-payment"),
    kafkaFromBeginning: readBool(env, "KAFKA_FROM_BEGINNING", true),
    paymentCurrencies: readCurrencies(env, "PAYMENT_CURRENCIES"),
    eventRetry: {
      attempts: readInt(env, "EVENT_RETRY_ATTEMPTS", 5, { min: 1, max: 100 }),
      initialDelayMs: readInt(env, "EVENT_RETRY_INITIAL_MS", 200, { min: 0, max: 60_000 }),
      maxDelayMs: readInt(env, "EVENT_RETRY_MAX_MS", 5_000, { min: 0, max: 600_000 }),
    },
  });
}

function readCurrencies(env: Env, name: string): string[] {
  const codes = readList(env, name, ["EUR"]).map((code) => code.toUpperCase());
  const bad = codes.find((code) => !/^[A-Z]{3}$/.test(code));
  if (bad !== undefined) throw new ConfigError(`environment variable "${name}" must list ISO 4217 codes, got "${bad}"`);
  return codes;
}
