import { join } from "node:path";
import type { EventBus, Subscription } from "../../shared/src/events/event-bus.js";
import { createKafkaEventBus } from "../../shared/src/events/event-bus.js";
import { subscribeHandlers } from "../../shared/src/events/consumer.js";
import { Inbox } from "../../shared/src/events/inbox.js";
import { OutboxRelay, OutboxStore } from "../../shared/src/events/outbox.js";
import { Topics } from "../../shared/src/events/topics.js";
import { bindServer, shutdownServer } from "../../shared/src/grpc/index.js";
import { createLogger, type Logger } from "../../shared/src/logger.js";
import { openDatabase, type SqliteDatabase } from "../../shared/src/store/database.js";
import { Catalog } from "./catalog.js";
import type { InventoryConfig } from "./config.js";
import { orderCancelledHandler } from "./events/handlers/order-cancelled-handler.js";
import { paymentAuthorizedHandler } from "./events/handlers/payment-authorized-handler.js";
import { paymentDeclinedHandler } from "./events/handlers/payment-declined-handler.js";
import { Reservations } from "./reservations.js";
import { createServer } from "./server.js";
import { StockFeed } from "./stock-feed.js";
import { ProductStore } from "./store/product-store.js";
import { ReservationStore } from "./store/reservation-store.js";
import { inventorySchema } from "./store/schema.js";

/** SWEEP_INTERVAL_MS: how often expired HELD reservations are looked for, at most (a short TTL sweeps more often). */
const SWEEP_INTERVAL_MS = 30_000;

/** sweepIntervalOf sweeps twice per TTL when the TTL is short (demos), but never more often than every 250 ms. */
function sweepIntervalOf(ttlMs: number): number {
  return Math.min(SWEEP_INTERVAL_MS, Math.max(250, Math.floor(ttlMs / 2)));
}

/** InventoryApp is a running inventory service. */
export interface InventoryApp {
  /** address is where it listens, e.g. `127.0.0.1:50053` (the real port when PORT=0). */
  readonly address: string;
  readonly port: number;
  readonly catalog: Catalog;
  readonly reservations: Reservations;
  readonly feed: StockFeed;
  readonly db: SqliteDatabase;
  /** sweep releases expired reservations now (the timer does it every 30 s); returns how many. */
  sweep(): number;
  /** stop shuts down gracefully: NOT_SERVING, drain calls, leave the group, flush the outbox, close. */
  stop(): Promise<void>;
}

/** StartDeps lets tests replace parts of the wiring. */
export interface StartDeps {
  readonly logger?: Logger;
  readonly bus?: EventBus;
  readonly clock?: () => Date;
}

/**
 * startInventory wires and starts the inventory service: database (seeded when empty), gRPC server bound, consumers
 * joined, outbox relay running, TTL sweep scheduled, and only then health SERVING.
 */
export async function startInventory(config: InventoryConfig, deps: StartDeps = {}): Promise<InventoryApp> {
  const logger = deps.logger ?? createLogger("inventory");
  const clock = deps.clock ?? (() => new Date());
  const db = openDatabase(join(config.dataDir, "inventory.db"), inventorySchema, {
    synchronous: config.sqliteSynchronous,
  });
  const products = new ProductStore(db);
  const feed = new StockFeed();
  const catalog = new Catalog(db, products, feed, clock);
  const seeded = catalog.seedIfEmpty();
  if (seeded > 0) logger.info({ products: seeded }, "seeded the catalog");

  const bus = deps.bus ?? createKafkaEventBus({ brokers: config.kafkaBrokers, clientId: "shopmesh-inventory", logger });
  const outbox = new OutboxStore(db);
  const relay = new OutboxRelay(outbox, bus, { logger });
  const reservations = new Reservations({
    db,
    products,
    reservations: new ReservationStore(db),
    outbox,
    inbox: new Inbox(db),
    publishLevels: (ids) => catalog.publish(ids),
    eventsWritten: () => relay.notify(),
    clock,
  });

  const stopping = new AbortController();
  const { server, health } = createServer({ catalog, reservations, feed, stopping: stopping.signal, db, logger });
  // Not SERVING until the consumers have joined: a ready probe must not pass before the service can react to events.
  health.setAll("NOT_SERVING");
  let subscription: Subscription | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  const sweep = () => {
    const released = reservations.releaseExpired(config.reservationTtlMs);
    if (released > 0) logger.info({ released }, "released expired reservations");
    return released;
  };

  const stop = async () => {
    clearInterval(sweepTimer);
    health.setAll("NOT_SERVING");
    // Long-lived streams (WatchStock, the order service's ReserveStock) end cleanly, so tryShutdown can drain.
    stopping.abort();
    await shutdownServer(server, health, { graceMs: 5_000 });
    await subscription?.close();
    await relay.stop();
    if (!deps.bus) await bus.close();
    db.close();
  };

  try {
    const port = await bindServer(server, `${config.host}:${config.port}`);
    subscription = await subscribeHandlers(bus, {
      groupId: config.kafkaGroupId,
      topics: [Topics.paymentEvents, Topics.orderEvents],
      handlers: [
        paymentAuthorizedHandler(reservations, logger),
        paymentDeclinedHandler(reservations, logger),
        orderCancelledHandler(reservations, logger),
      ],
      fromBeginning: config.kafkaFromBeginning,
      logger,
    });
    relay.start();
    sweepTimer = setInterval(() => {
      try {
        sweep();
      } catch (error) {
        logger.error({ err: error }, "reservation sweep failed");
      }
    }, sweepIntervalOf(config.reservationTtlMs));
    sweepTimer.unref();
    health.setAll("SERVING");
    const address = `${config.host}:${port}`;
    logger.info({ address, groupId: config.kafkaGroupId }, "inventory serving");
    return { address, port, catalog, reservations, feed, db, sweep, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
