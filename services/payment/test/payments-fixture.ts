import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { Inbox, inboxSchema } from "#shared/events/inbox.js";
import { OutboxStore, outboxSchema } from "#shared/events/outbox.js";
import { createLogger, type Logger } from "#shared/logger.js";
import { openDatabase, type SqliteDatabase } from "#shared/store/database.js";
import type { Payment } from "../src/domain/payment.js";
import { Payments } from "../src/payments.js";
import { PaymentStore, paymentSchema } from "../src/store/payment-store.js";

/** TestPayments are the payment use cases over a real, temporary SQLite database (no Kafka). */
export interface TestPayments {
  readonly db: SqliteDatabase;
  readonly payments: Payments;
  /** charge seeds one payment the way the OrderCreated handler does, and returns it. */
  charge(cardToken: string, amountMinor?: bigint, orderId?: string): Payment;
  /** close closes the database and deletes its folder. */
  close(): void;
}

/** openTestPayments opens the use cases on a fresh database in a temporary folder (warnings to stdout unless `logger`). */
export function openTestPayments(logger?: Logger): TestPayments {
  const dir = mkdtempSync(path.join(tmpdir(), "payment-test-"));
  const db = openDatabase(path.join(dir, "payment.db"), [...paymentSchema, ...outboxSchema, ...inboxSchema]);
  const payments = new Payments({
    db,
    store: new PaymentStore(db),
    outbox: new OutboxStore(db),
    inbox: new Inbox(db),
    currencies: new Set(["EUR"]),
    committed: () => undefined,
    logger: logger ?? createLogger("payment-test", { LOG_LEVEL: "warn", LOG_FORMAT: "json" }),
  });
  return {
    db,
    payments,
    charge(cardToken, amountMinor = 2_500n, orderId = crypto.randomUUID()) {
      const order = create(OrderCreatedSchema, {
        orderId,
        customerId: "customer-1",
        cardToken,
        total: { currencyCode: "EUR", amountMinor },
      });
      const outcome = payments.chargeOrder(order, {
        id: crypto.randomUUID(),
        type: OrderCreatedSchema.typeName,
        inboxConsumer: "payment.order-created",
      });
      if (outcome.kind !== "charged") throw new Error(`seeding failed: ${outcome.kind}`);
      return outcome.payment;
    },
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
