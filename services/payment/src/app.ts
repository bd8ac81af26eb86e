import { Topics } from "#shared/events/topics.js";
import { startService, type KitOverrides } from "#shared/kit/index.js";
import type { Stoppable } from "#shared/runtime.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import type { PaymentConfig } from "./config.js";
import { orderCancelledHandler } from "./events/handlers/order-cancelled-handler.js";
import { orderCreatedHandler } from "./events/handlers/order-created-handler.js";
import { Payments } from "./payments.js";
import { paymentServices } from "./server.js";
import { PaymentStore, paymentSchema } from "./store/payment-store.js";

/** StartDeps lets tests swap what the kit builds from the config (a shared bus is not closed by stop()). */
export type StartDeps = KitOverrides;

/** PaymentApp is a running payment service. */
export interface PaymentApp extends Stoppable {
  /** port is the bound gRPC port (the real one when the config asked for 0). */
  readonly port: number;
  /** address is `host:port` for clients. */
  readonly address: string;
  readonly db: SqliteDatabase;
  readonly payments: Payments;
  /** flushSpans exports the spans ended so far (tests with an in-memory exporter). */
  flushSpans(): Promise<void>;
}

/**
 * startPayment starts the payment service from the kit: the simulated card processor behind PaymentService,
 * consuming OrderCreated (charge) and OrderCancelled (refund), publishing the payment outcomes.
 */
export async function startPayment(config: Readonly<PaymentConfig>, deps: StartDeps = {}): Promise<PaymentApp> {
  const service = await startService(
    {
      name: "payment",
      schema: paymentSchema,
      wire: ({ db, outbox, inbox, relay, logger }) => {
        const payments = new Payments({
          db,
          store: new PaymentStore(db),
          outbox,
          inbox,
          currencies: new Set(config.paymentCurrencies),
          committed: () => relay.notify(),
          logger,
        });
        return {
          serves: paymentServices({ payments, logger }),
          consumes: { [Topics.orderEvents]: [orderCreatedHandler(payments, logger), orderCancelledHandler(payments, logger)] },
          publishes: [Topics.paymentEvents],
          parts: { payments },
        };
      },
    },
    config,
    deps,
  );
  return { ...service, ...service.parts };
}
