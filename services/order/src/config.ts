import {
  type CommandBusSettings,
  deepFreeze,
  type Env,
  readCommandBusSettings,
  readInt,
  readServiceSettings,
  readString,
  type ServiceSettings,
} from "#shared/config.js";

/**
 * OrderConfig is the order service's configuration, read once from the environment: the keys every service shares
 * (services/shared/src/config.ts, `readServiceSettings`) plus:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `INVENTORY_ADDR` | `127.0.0.1:50053` | the inventory service |
 * | `RESERVE_TIMEOUT_MS` | `3000` | bound of one stock reservation |
 * | `CREATE_MAX_IN_FLIGHT` | `32` | CreateOrders reserving at once; more are shed with RESOURCE_EXHAUSTED |
 *
 * and the command bus's keys (`readCommandBusSettings`: COMMAND_BUS, RABBITMQ_URL, ...), where the customer emails
 * order decides go. While that broker is down they wait in the outbox; orders are not held up. `COMMAND_BUS=off` is
 * a deployment without the notification service (a benchmark's or a lab's mesh, which must not reach for a RabbitMQ
 * on the default port): order then decides no emails and writes no commands, rather than piling up unsent ones.
 */
export interface OrderConfig extends ServiceSettings {
  readonly inventoryAddr: string;
  readonly reserveTimeoutMs: number;
  readonly createMaxInFlight: number;
  /** commandBus is undefined under COMMAND_BUS=off. */
  readonly commandBus: CommandBusSettings | undefined;
}

/** loadConfig reads the environment, failing fast with the variable's name. */
export function loadConfig(env: Env = process.env): Readonly<OrderConfig> {
  return deepFreeze({
    ...readServiceSettings(env, "order", 50051, 9451),
    inventoryAddr: readString(env, "INVENTORY_ADDR", "127.0.0.1:50053"),
    reserveTimeoutMs: readInt(env, "RESERVE_TIMEOUT_MS", 3_000, { min: 1 }),
    createMaxInFlight: readInt(env, "CREATE_MAX_IN_FLIGHT", 32, { min: 1 }),
    commandBus: env["COMMAND_BUS"]?.trim().toLowerCase() === "off" ? undefined : readCommandBusSettings(env),
  });
}
