import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Inbox, inboxSchema } from "#shared/events/inbox.js";
import { OutboxStore, outboxSchema } from "#shared/events/outbox.js";
import { openDatabase, type SqliteDatabase } from "#shared/store/database.js";
import { Reservations } from "../src/reservations.js";
import { ProductStore } from "../src/store/product-store.js";
import { ReservationStore } from "../src/store/reservation-store.js";
import { inventorySchema } from "../src/store/schema.js";

/** The late-payment rules of Reservations over a real in-memory SQLite database, without Kafka. */
describe("a payment that comes after its reservation expired (use case, SQLite)", () => {
  let db: SqliteDatabase;
  let products: ProductStore;
  let reservations: Reservations;
  let wakeUps: number;
  let now: Date;
  const eventRef = () => ({ id: crypto.randomUUID(), type: "shop.payment.v1.PaymentAuthorized" });
  const outboxTypes = (orderId: string) =>
    db
      .prepare<[string], { event_type: string }>(`SELECT event_type FROM outbox WHERE subject = ? ORDER BY seq`)
      .all(orderId)
      .map((row) => row.event_type.replace("shop.inventory.v1.", ""));

  beforeEach(() => {
    db = openDatabase(":memory:", [...inventorySchema, ...outboxSchema, ...inboxSchema]);
    products = new ProductStore(db);
    now = new Date("2026-12-01T10:00:00Z");
    products.insert(
      { productId: "sku-a", name: "A", description: "", price: { currencyCode: "EUR", amountMinor: 300n }, available: 5 },
      now,
    );
    wakeUps = 0;
    reservations = new Reservations({
      db,
      products,
      reservations: new ReservationStore(db),
      outbox: new OutboxStore(db),
      inbox: new Inbox(db),
      publishLevels: () => undefined,
      eventsWritten: () => void wakeUps++,
      clock: () => now,
    });
  });
  afterEach(() => db.close());

  function reserveAndExpire(orderId: string, quantity: number): void {
    const outcome = reservations.reserve({ reservationId: orderId, orderId, lines: [{ productId: "sku-a", quantity }] });
    expect(outcome.error).toBeUndefined();
    now = new Date(now.getTime() + 60_000);
    expect(reservations.releaseExpired(60_000)).toBe(1);
  }

  it("when the stock is still there, then it is taken straight into a sale at the price charged", () => {
    reserveAndExpire("o-1", 2);
    db.prepare(`UPDATE products SET amount_minor = 999 WHERE product_id = 'sku-a'`).run();

    expect(reservations.commitForOrder("inventory.payment-authorized", eventRef(), "o-1", "pay-1")).toBe("recommitted");

    expect(products.get("sku-a")).toMatchObject({ available: 3, reserved: 0 });
    const committed = reservations.get("o-1");
    expect(committed).toMatchObject({ status: "COMMITTED", reason: "reserved again when paid after its release (reservation expired)" });
    expect(committed.lines[0]?.unitPrice.amountMinor).toBe(300n);
    expect(outboxTypes("o-1")).toEqual(["StockReserved", "StockReleased", "StockCommitted"]);
  });

  it("when the stock is gone, then StockCommitFailed is written and the relay is woken, though no stock level changed", () => {
    reserveAndExpire("o-2", 4);
    expect(
      reservations.reserve({ reservationId: "o-3", orderId: "o-3", lines: [{ productId: "sku-a", quantity: 3 }] }).error,
    ).toBeUndefined();
    const before = wakeUps;

    expect(reservations.commitForOrder("inventory.payment-authorized", eventRef(), "o-2", "pay-2")).toBe("commit-failed");

    expect(wakeUps).toBe(before + 1);
    expect(products.get("sku-a")).toMatchObject({ available: 2, reserved: 3 });
    expect(reservations.get("o-2")).toMatchObject({ status: "RELEASED" });
    expect(outboxTypes("o-2")).toEqual(["StockReserved", "StockReleased", "StockCommitFailed"]);
    // Once failed, the order is closed: even with stock back, a replayed payment takes none.
    products.adjust("sku-a", { available: 10, reserved: 0 }, now);
    expect(reservations.commitForOrder("inventory.payment-authorized", eventRef(), "o-2", "pay-2")).toBe("skipped");
  });
});
