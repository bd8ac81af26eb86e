import { deepFreeze, readInt, readServiceSettings, type Env, type ServiceSettings } from "#shared/config.js";

/**
 * InventoryConfig is the inventory service's settings, read once from the environment: the keys every service shares
 * (services/shared/src/config.ts, `readServiceSettings`) plus:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `RESERVATION_TTL_MS` | `900000` (15 min) | how long a HELD reservation may wait for payment before it is released |
 */
export interface InventoryConfig extends ServiceSettings {
  readonly reservationTtlMs: number;
}

/** loadConfig reads the environment into a frozen InventoryConfig, failing fast with the variable's name. */
export function loadConfig(env: Env = process.env): InventoryConfig {
  return deepFreeze({
    ...readServiceSettings(env, "inventory", 50053, 9453),
    reservationTtlMs: readInt(env, "RESERVATION_TTL_MS", 900_000, { min: 1 }),
  });
}
