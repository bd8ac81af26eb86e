import { Topics } from "#shared/events/topics.js";
import { startService, type KitOverrides } from "#shared/kit/index.js";
import { METRICS } from "#shared/metrics/index.js";
import type { Stoppable } from "#shared/runtime.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import { Catalog } from "./catalog.js";
import type { InventoryConfig } from "./config.js";
import { orderCancelledHandler } from "./events/handlers/order-cancelled-handler.js";
import { paymentAuthorizedHandler } from "./events/handlers/payment-authorized-handler.js";
import { paymentDeclinedHandler } from "./events/handlers/payment-declined-handler.js";
import { Reservations } from "./reservations.js";
import { inventoryServices } from "./server.js";
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
export interface InventoryApp extends Stoppable {
  /** address is where it listens, e.g. `127.0.0.1:50053` (the real port when PORT=0). */
  readonly address: string;
  readonly port: number;
  readonly catalog: Catalog;
  readonly reservations: Reservations;
  readonly feed: StockFeed;
  /** flushSpans exports the spans ended so far (tests with an in-memory exporter). */
  flushSpans(): Promise<void>;
  readonly db: SqliteDatabase;
  /** sweep releases expired reservations now (the timer does it every 30 s); returns how many. */
  sweep(): number;
  /** stop shuts down gracefully (the kit's stop sequence); a second call returns the same promise. */
  stop(): Promise<void>;
}

/** StartDeps lets tests replace parts of the wiring. */
export interface StartDeps extends KitOverrides {
  readonly clock?: () => Date;
}

/**
 * startInventory starts the inventory service from the kit: products and reservations (the catalog seeded when
 * empty), serving InventoryService, consuming payment outcomes and cancellations, publishing stock events, and
 * sweeping expired reservations.
 */
export async function startInventory(config: InventoryConfig, deps: StartDeps = {}): Promise<InventoryApp> {
  const clock = deps.clock ?? (() => new Date());
  const service = await startService(
    {
      name: "inventory",
      schema: inventorySchema,
      wire: ({ db, outbox, inbox, relay, logger, metrics, spans }) => {
        const products = new ProductStore(db);
        const feed = new StockFeed();
        const catalog = new Catalog(db, products, feed, clock);
        const seeded = catalog.seedIfEmpty();
        if (seeded > 0) logger.info({ products: seeded }, "seeded the catalog");
        const reservationStore = new ReservationStore(db);
        metrics.countsByState(METRICS.reservations, "Inventory's reservations by state.", () => reservationStore.countsByStatus());
        const reservations = new Reservations({
          db,
          products,
          reservations: reservationStore,
          outbox,
          inbox,
          publishLevels: (ids) => catalog.publish(ids),
          eventsWritten: () => relay.notify(),
          clock,
        });
        const sweep = () => {
          const released = reservations.releaseExpired(config.reservationTtlMs);
          if (released > 0) logger.info({ released }, "released expired reservations");
          return released;
        };
        return {
          serves: inventoryServices({ catalog, reservations, feed, spans }),
          consumes: {
            [Topics.paymentEvents]: [paymentAuthorizedHandler(reservations, logger), paymentDeclinedHandler(reservations, logger)],
            [Topics.orderEvents]: [orderCancelledHandler(reservations, logger)],
          },
          publishes: [Topics.inventoryEvents],
          timers: [{ name: "reservation sweep", everyMs: sweepIntervalOf(config.reservationTtlMs), run: sweep }],
          parts: { catalog, reservations, feed, sweep },
        };
      },
    },
    config,
    deps,
  );
  return { ...service, ...service.parts };
}
