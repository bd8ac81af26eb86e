import type { Inbox } from "../../shared/src/events/inbox.js";
import type { OutboxStore } from "../../shared/src/events/outbox.js";
import type { Logger } from "../../shared/src/logger.js";
import type { SqliteDatabase } from "../../shared/src/store/database.js";
import type { OrderChanges } from "./order-changes.js";
import type { IdempotencyStore } from "./store/idempotency-store.js";
import type { OrderStore } from "./store/order-store.js";

/** OrderDeps is what the order use cases share: the database, its stores, the relay to wake and the watchers. */
export interface OrderDeps {
  readonly db: SqliteDatabase;
  readonly orders: OrderStore;
  readonly keys: IdempotencyStore;
  readonly outbox: OutboxStore;
  readonly inbox: Inbox;
  /** relay is woken after each commit that wrote an outbox row. */
  readonly relay: { notify(): void };
  readonly changes: OrderChanges;
  readonly logger: Logger;
}
