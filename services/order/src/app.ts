import { join } from "node:path";
import { createKafkaEventBus, type EventBus, type Subscription } from "../../shared/src/events/event-bus.js";
import { subscribeHandlers } from "../../shared/src/events/consumer.js";
import { Inbox, inboxSchema } from "../../shared/src/events/inbox.js";
import { OutboxRelay, OutboxStore, outboxSchema, type OutboxRelayOptions } from "../../shared/src/events/outbox.js";
import { Topics } from "../../shared/src/events/topics.js";
import { bindServer, shutdownServer } from "../../shared/src/grpc/server.js";
import { createLogger, type Logger } from "../../shared/src/logger.js";
import { openDatabase, type SqliteDatabase } from "../../shared/src/store/database.js";
import { createInventoryClient, type InventoryClient } from "./clients/inventory-client.js";
import { InventoryReserver, type ReserverOptions } from "./clients/inventory-reserver.js";
import { createStockReservations } from "./clients/stock-reservations.js";
import type { OrderConfig } from "./config.js";
import { paymentAuthorizedHandler } from "./events/handlers/payment-authorized-handler.js";
import { paymentDeclinedHandler } from "./events/handlers/payment-declined-handler.js";
import { OrderChanges } from "./order-changes.js";
import { OrderUseCases } from "./order-use-cases.js";
import { createServer } from "./server.js";
import { IdempotencyStore, idempotencySchema } from "./store/idempotency-store.js";
import { OrderStore, orderSchema } from "./store/order-store.js";

/** CONSUMER names the order service's inbox entries (one consumer: the payment events subscription). */
const CONSUMER = "order.payment-events";

/** StartOptions let tests swap collaborators; everything else follows the config. */
export interface StartOptions {
  logger?: Logger;
  bus?: EventBus;
  inventoryClient?: InventoryClient;
  reserver?: ReserverOptions;
  relay?: OutboxRelayOptions;
  /** graceMs bounds the drain of in-flight calls at stop (default 10 s). */
  graceMs?: number;
}

/** OrderServiceHandle is a running order service. */
export interface OrderServiceHandle {
  readonly port: number;
  readonly address: string;
  readonly db: SqliteDatabase;
  readonly relay: OutboxRelay;
  stop(): Promise<void>;
}

/**
 * startOrderService wires and starts the order service: database → event bus → inventory client → gRPC server →
 * bind → payment-events subscription → outbox relay → health SERVING. `stop()` undoes it gracefully: health
 * NOT_SERVING, drain calls, close the consumer (committing offsets), flush the relay, close the bus, the inventory
 * stream and the database.
 */
export async function startOrderService(config: Readonly<OrderConfig>, options: StartOptions = {}): Promise<OrderServiceHandle> {
  const logger = options.logger ?? createLogger("order");
  const db = openDatabase(join(config.dataDir, "order.db"), [...orderSchema, ...idempotencySchema, ...outboxSchema, ...inboxSchema], {
    synchronous: config.sqliteSynchronous,
  });
  const outbox = new OutboxStore(db);
  const bus = options.bus ?? createKafkaEventBus({ brokers: config.kafkaBrokers, clientId: "shopmesh-order", logger });
  const relay = new OutboxRelay(outbox, bus, { logger, ...options.relay });
  const inventoryClient = options.inventoryClient ?? createInventoryClient(config.inventoryAddr);
  const reserver = new InventoryReserver(inventoryClient, { logger, ...options.reserver });

  const orders = new OrderUseCases({
    db,
    orders: new OrderStore(db),
    keys: new IdempotencyStore(db),
    outbox,
    inbox: new Inbox(db),
    stock: createStockReservations(reserver, logger),
    reserveTimeoutMs: config.reserveTimeoutMs,
    relay,
    changes: new OrderChanges(),
    logger,
  });
  const { server, health } = createServer({ orders, db, logger });
  health.setAll("NOT_SERVING");

  let subscription: Subscription | undefined;
  const close = async () => {
    await subscription?.close();
    await relay.stop();
    await bus.close();
    reserver.close();
    inventoryClient.close();
    db.close();
  };
  try {
    const port = await bindServer(server, `${config.host}:${config.port}`);
    subscription = await subscribeHandlers(bus, {
      groupId: config.kafkaGroupId,
      topics: [Topics.paymentEvents],
      fromBeginning: config.kafkaFromBeginning,
      retry: config.eventRetry,
      logger,
      handlers: [paymentAuthorizedHandler(orders, CONSUMER, logger), paymentDeclinedHandler(orders, CONSUMER, logger)],
    });
    relay.start();
    health.setAll("SERVING");
    const address = `${config.host}:${port}`;
    logger.info({ address, inventory: config.inventoryAddr, groupId: config.kafkaGroupId }, "order service serving");
    return {
      port,
      address,
      db,
      relay,
      async stop() {
        await shutdownServer(server, health, { graceMs: options.graceMs ?? 10_000 });
        await close();
      },
    };
  } catch (error) {
    server.forceShutdown();
    await close().catch(() => {});
    throw error;
  }
}
