import { AdmissionLimit } from "#shared/admission-limit.js";
import { Topics } from "#shared/events/topics.js";
import type { OutboxRelay } from "#shared/events/outbox.js";
import { startService, type KitOverrides } from "#shared/kit/index.js";
import type { Stoppable } from "#shared/runtime.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import { createInventoryClient, type InventoryClient } from "./clients/inventory-client.js";
import { InventoryReserver, type ReserverOptions } from "./clients/inventory-reserver.js";
import { createStockReservations } from "./clients/stock-reservations.js";
import type { OrderConfig } from "./config.js";
import { paymentAuthorizedHandler } from "./events/handlers/payment-authorized-handler.js";
import { paymentDeclinedHandler } from "./events/handlers/payment-declined-handler.js";
import { stockCommitFailedHandler } from "./events/handlers/stock-commit-failed-handler.js";
import { OrderChanges } from "./order-changes.js";
import { OrderUseCases } from "./order-use-cases.js";
import { orderServices } from "./server.js";
import { StockReleases, type StockReleasesOptions } from "./stock-releases.js";
import { IdempotencyStore, idempotencySchema } from "./store/idempotency-store.js";
import { OrderStore, orderSchema } from "./store/order-store.js";
import { StockHoldStore, stockHoldSchema } from "./store/stock-hold-store.js";

/** StartOptions let tests swap collaborators; everything else follows the config. */
export interface StartOptions extends KitOverrides {
  readonly inventoryClient?: InventoryClient;
  readonly reserver?: ReserverOptions;
  readonly releases?: StockReleasesOptions;
}

/** OrderServiceHandle is a running order service. */
export interface OrderServiceHandle extends Stoppable {
  readonly port: number;
  readonly address: string;
  readonly db: SqliteDatabase;
  readonly relay: OutboxRelay;
  stop(): Promise<void>;
  /** flushSpans exports the spans ended so far (tests with an in-memory exporter). */
  flushSpans(): Promise<void>;
}

/**
 * startOrderService starts the order service from the kit: orders with idempotency keys, stock reserved over the
 * inventory stream, serving OrderService v1 and v2, consuming payment outcomes and inventory's StockCommitFailed,
 * publishing the order's events.
 */
export async function startOrderService(config: Readonly<OrderConfig>, options: StartOptions = {}): Promise<OrderServiceHandle> {
  return await startService(
    {
      name: "order",
      schema: [...orderSchema, ...idempotencySchema, ...stockHoldSchema],
      commandBus: config.commandBus,
      wire: ({ db, outbox, inbox, relay, commandRelay, logger, metrics, channelCredentials, spans }) => {
        const inventoryClient =
          options.inventoryClient ?? createInventoryClient(config.inventoryAddr, channelCredentials("inventory"), spans);
        const reserver = new InventoryReserver(inventoryClient, {
          logger,
          reserveTimeoutMs: config.reserveTimeoutMs,
          spans,
          target: config.inventoryAddr,
          ...options.reserver,
        });
        metrics.breaker("inventory", () => reserver.breakerState);
        const stock = createStockReservations(reserver, logger);
        const releases = new StockReleases({
          holds: new StockHoldStore(db),
          release: stock.release,
          reserveTimeoutMs: config.reserveTimeoutMs,
          logger,
          options: options.releases,
        });
        const orders = new OrderUseCases({
          db,
          orders: new OrderStore(db),
          keys: new IdempotencyStore(db),
          outbox,
          inbox,
          stock,
          releases,
          admission: new AdmissionLimit(config.createMaxInFlight, "CreateOrder"),
          // One commit may write an event and a command: both relays are woken.
          relay: {
            notify: () => {
              relay.notify();
              commandRelay?.notify();
            },
          },
          changes: new OrderChanges(),
          emailsCustomers: config.commandBus !== undefined,
          logger,
        });
        return {
          serves: orderServices(orders),
          consumes: {
            [Topics.paymentEvents]: [paymentAuthorizedHandler(orders, logger), paymentDeclinedHandler(orders, logger)],
            [Topics.inventoryEvents]: [stockCommitFailedHandler(orders, logger)],
          },
          publishes: [Topics.orderEvents],
          timers: [{ name: "stock releases", everyMs: releases.everyMs, run: () => releases.runDue() }],
          close() {
            releases.close();
            reserver.close();
            inventoryClient.close();
          },
          parts: {},
        };
      },
    },
    config,
    options,
  );
}
