import { deepFreeze, readInt, readServiceSettings, readString, type Env, type ServiceSettings } from "#shared/config.js";

/**
 * OrderConfig is the order service's configuration, read once from the environment: the keys every service shares
 * (services/shared/src/config.ts, `readServiceSettings`) plus:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `INVENTORY_ADDR` | `127.0.0.1:50053` | the inventory service |
 * | `RESERVE_TIMEOUT_MS` | `3000` | bound of one stock reservation |
 * | `CREATE_MAX_IN_FLIGHT` | `32` | CreateOrders reserving at once; more are shed with RESOURCE_EXHAUSTED |
 */
export interface OrderConfig extends ServiceSettings {
  readonly inventoryAddr: string;
  readonly reserveTimeoutMs: number;
  readonly createMaxInFlight: number;
}

/** loadConfig reads the environment, failing fast with the variable's name. */
export function loadConfig(env: Env = process.env): Readonly<OrderConfig> {
  return deepFreeze({
    ...readServiceSettings(env, "order", 50051, 9451),
    inventoryAddr: readString(env, "INVENTORY_ADDR", "127.0.0.1:50053"),
    reserveTimeoutMs: readInt(env, "RESERVE_TIMEOUT_MS", 3_000, { min: 1 }),
    createMaxInFlight: readInt(env, "CREATE_MAX_IN_FLIGHT", 32, { min: 1 }),
  });
}
