import path from "node:path";
import { createKafkaEventBus, type EventBus, type Subscription } from "../../shared/src/events/event-bus.js";
import { subscribeHandlers } from "../../shared/src/events/consumer.js";
import { Inbox, inboxSchema } from "../../shared/src/events/inbox.js";
import { OutboxRelay, OutboxStore, outboxSchema } from "../../shared/src/events/outbox.js";
import { Topics } from "../../shared/src/events/topics.js";
import { bindServer, shutdownServer } from "../../shared/src/grpc/server.js";
import { createLogger, type Logger } from "../../shared/src/logger.js";
import type { Stoppable } from "../../shared/src/runtime.js";
import { openDatabase, type SqliteDatabase } from "../../shared/src/store/database.js";
import type { PaymentConfig } from "./config.js";
import { orderCancelledHandler } from "./events/handlers/order-cancelled-handler.js";
import { orderCreatedHandler } from "./events/handlers/order-created-handler.js";
import { Payments } from "./payments.js";
import { createServer } from "./server.js";
import { PaymentStore, paymentSchema } from "./store/payment-store.js";

/** StartDeps lets tests swap collaborators; everything defaults to the real thing built from the config. */
export interface StartDeps {
  readonly logger?: Logger;
  /** bus, when given, is shared with the caller and not closed by stop(). */
  readonly bus?: EventBus;
}

/** PaymentApp is a running payment service. */
export interface PaymentApp extends Stoppable {
  /** port is the bound gRPC port (the real one when the config asked for 0). */
  readonly port: number;
  /** address is `host:port` for clients. */
  readonly address: string;
  readonly db: SqliteDatabase;
  readonly payments: Payments;
}

/**
 * startPayment wires and starts the payment service: database → event bus → gRPC server bound → OrderCreated /
 * OrderCancelled subscription joined → outbox relay → health SERVING. stop() reverses it gracefully: health
 * NOT_SERVING and in-flight calls drained, the consumer closed (offsets committed), the relay flushed, the bus and
 * the database closed.
 */
export async function startPayment(config: Readonly<PaymentConfig>, deps: StartDeps = {}): Promise<PaymentApp> {
  const logger = deps.logger ?? createLogger("payment");
  const db = openDatabase(path.join(config.dataDir, "payment.db"), [...paymentSchema, ...outboxSchema, ...inboxSchema], {
    synchronous: config.sqliteSynchronous,
  });
  const outbox = new OutboxStore(db);
  const bus = deps.bus ?? createKafkaEventBus({ brokers: config.kafkaBrokers, clientId: "shopmesh-payment", logger });
  const relay = new OutboxRelay(outbox, bus, { logger });
  const payments = new Payments({
    db,
    store: new PaymentStore(db),
    outbox,
    inbox: new Inbox(db),
    consumer: config.kafkaGroupId,
    currencies: new Set(config.paymentCurrencies),
    committed: () => relay.notify(),
    logger,
  });
  const { server, health } = createServer({ payments, db, logger });

  let subscription: Subscription | undefined;
  const closeAll = async () => {
    await subscription?.close();
    await relay.stop();
    if (!deps.bus) await bus.close();
    db.close();
  };

  let port: number;
  try {
    port = await bindServer(server, `${config.host}:${config.port}`);
    subscription = await subscribeHandlers(bus, {
      groupId: config.kafkaGroupId,
      topics: [Topics.orderEvents],
      handlers: [orderCreatedHandler(payments, logger), orderCancelledHandler(payments, logger)],
      fromBeginning: config.kafkaFromBeginning,
      retry: config.eventRetry,
      logger,
    });
    relay.start();
  } catch (error) {
    server.forceShutdown();
    await closeAll().catch((closeError: unknown) => logger.warn({ err: closeError }, "cleanup after a failed start failed"));
    throw error;
  }
  health.setAll("SERVING");
  logger.info(
    { address: `${config.host}:${port}`, groupId: config.kafkaGroupId, currencies: config.paymentCurrencies },
    "payment service serving",
  );

  let stopping: Promise<void> | undefined;
  return {
    port,
    address: `${config.host}:${port}`,
    db,
    payments,
    stop() {
      stopping ??= (async () => {
        await shutdownServer(server, health);
        await closeAll();
      })();
      return stopping;
    },
  };
}
