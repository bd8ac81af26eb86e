import { deepFreeze, readBool, readInt, readList, readString, type Env } from "../../shared/src/config.js";
import { DEFAULT_RETRY, type RetryPolicy } from "../../shared/src/events/event-bus.js";

/** OrderConfig is the order service's configuration, read once from the environment (docs/architecture.md). */
export interface OrderConfig {
  /** host is the interface to bind (HOST, default 127.0.0.1). */
  readonly host: string;
  /** port is the gRPC port (PORT, default 50051; 0 picks a free one). */
  readonly port: number;
  /** dataDir holds order.db (DATA_DIR, default .data/order). */
  readonly dataDir: string;
  /** kafkaBrokers are the bootstrap brokers (KAFKA_BROKERS, default 127.0.0.1:9092). */
  readonly kafkaBrokers: readonly string[];
  /** kafkaGroupId is the payment-events consumer group (KAFKA_GROUP_ID, default shopmesh-order). */
  readonly kafkaGroupId: string;
  /** kafkaFromBeginning: where a new group starts (KAFKA_FROM_BEGINNING, default true). */
  readonly kafkaFromBeginning: boolean;
  /** inventoryAddr is the inventory service (INVENTORY_ADDR, default 127.0.0.1:50053). */
  readonly inventoryAddr: string;
  /** reserveTimeoutMs bounds one stock reservation (RESERVE_TIMEOUT_MS, default 3000). */
  readonly reserveTimeoutMs: number;
  /** eventRetry: handler attempts and backoff before the DLQ (EVENT_RETRY_ATTEMPTS, _INITIAL_MS, _MAX_MS). */
  readonly eventRetry: RetryPolicy;
}

/** loadConfig reads the environment, failing fast with the variable's name. */
export function loadConfig(env: Env = process.env): Readonly<OrderConfig> {
  return deepFreeze({
    host: readString(env, "HOST", "127.0.0.1"),
    port: readInt(env, "PORT", 50051, { min: 0, max: 65535 }),
    dataDir: readString(env, "DATA_DIR", ".data/order"),
    kafkaBrokers: readList(env, "KAFKA_BROKERS", ["127.0.0.1:9092"]),
    kafkaGroupId: readString(env, "KAFKA_GROUP_ID", "shopmesh-order"),
    kafkaFromBeginning: readBool(env, "KAFKA_FROM_BEGINNING", true),
    inventoryAddr: readString(env, "INVENTORY_ADDR", "127.0.0.1:50053"),
    reserveTimeoutMs: readInt(env, "RESERVE_TIMEOUT_MS", 3_000, { min: 1 }),
    eventRetry: {
      attempts: readInt(env, "EVENT_RETRY_ATTEMPTS", DEFAULT_RETRY.attempts, { min: 1 }),
      initialDelayMs: readInt(env, "EVENT_RETRY_INITIAL_MS", DEFAULT_RETRY.initialDelayMs, { min: 0 }),
      maxDelayMs: readInt(env, "EVENT_RETRY_MAX_MS", DEFAULT_RETRY.maxDelayMs, { min: 0 }),
    },
  });
}
