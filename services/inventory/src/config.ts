import { deepFreeze, readBool, readInt, readList, readString, type Env } from "../../shared/src/config.js";

/** InventoryConfig is the inventory service's settings, read once from the environment. */
export interface InventoryConfig {
  /** host is the interface to bind (`HOST`, default 127.0.0.1; compose sets 0.0.0.0). */
  readonly host: string;
  /** port is the gRPC port (`PORT`, default 50053; 0 picks a free one, as the tests do). */
  readonly port: number;
  /** dataDir holds inventory.db (`DATA_DIR`, default `.data/inventory`). */
  readonly dataDir: string;
  /** kafkaBrokers are the bootstrap brokers (`KAFKA_BROKERS`, comma-separated, default 127.0.0.1:9092). */
  readonly kafkaBrokers: readonly string[];
  /** kafkaGroupId is the consumer group (`KAFKA_GROUP_ID`, default `shopmesh-inventory`). */
  readonly kafkaGroupId: string;
  /** kafkaFromBeginning is where a group without offsets starts (`KAFKA_FROM_BEGINNING`, default true). */
  readonly kafkaFromBeginning: boolean;
  /** reservationTtlMs is how long a HELD reservation may wait for payment (`RESERVATION_TTL_MS`, default 15 min). */
  readonly reservationTtlMs: number;
}

/** loadConfig reads the environment into a frozen InventoryConfig, failing fast with the variable's name. */
export function loadConfig(env: Env = process.env): InventoryConfig {
  return deepFreeze({
    host: readString(env, "HOST", "127.0.0.1"),
    port: readInt(env, "PORT", 50053, { min: 0, max: 65535 }),
    dataDir: readString(env, "DATA_DIR", ".data/inventory"),
    kafkaBrokers: readList(env, "KAFKA_BROKERS", ["127.0.0.1:9092"]),
    kafkaGroupId: readString(env, "KAFKA_GROUP_ID", "shopmesh-inventory"),
    kafkaFromBeginning: readBool(env, "KAFKA_FROM_BEGINNING", true),
    reservationTtlMs: readInt(env, "RESERVATION_TTL_MS", 900_000, { min: 1 }),
  });
}
