import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, type SqliteDatabase } from "#shared/store/database.js";
import { cancelByCustomer, newOrder, onPaymentAuthorized, type Order } from "../src/domain/order.js";
import { OrderStore, orderSchema } from "../src/store/order-store.js";

let dir: string;
let db: SqliteDatabase;
let store: OrderStore;

function order(orderId: string, unitMinor = 250n): Order {
  return newOrder({
    orderId,
    customerId: "cust-1",
    lines: [
      {
        productId: "sku-b",
        quantity: 2,
        unitPrice: { currencyCode: "EUR", amountMinor: unitMinor },
        lineTotal: { currencyCode: "EUR", amountMinor: unitMinor * 2n },
      },
      {
        productId: 'sku-a "quoted"',
        quantity: 1,
        unitPrice: { currencyCode: "EUR", amountMinor: 180n },
        lineTotal: { currencyCode: "EUR", amountMinor: 180n },
      },
    ],
    total: { currencyCode: "EUR", amountMinor: unitMinor * 2n + 180n },
    at: new Date("2026-01-01T10:00:00.000Z"),
  });
}

function write(fn: () => void): void {
  db.transaction(fn)();
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "order-store-test-"));
  db = openDatabase(join(dir, "order.db"), orderSchema);
  store = new OrderStore(db);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("OrderStore", () => {
  it("when an order is read back, then its lines and history come in their written order, with exact amounts", () => {
    const big = 2n ** 60n; // beyond 2^53: must not go through a JS number
    const created = order("o-1", big);
    write(() => store.insert(created));
    const confirmed = onPaymentAuthorized(created, "pay-1", new Date("2026-01-01T10:00:01.000Z"));
    if (confirmed.kind !== "confirmed") throw new Error(confirmed.kind);
    write(() => store.update(confirmed.order));

    expect(store.get("o-1")).toEqual(confirmed.order);
    expect(store.get("o-1")?.lines[0]?.unitPrice.amountMinor).toBe(big);
    expect(store.get("missing")).toBeUndefined();
  });

  it("when a confirmed order is cancelled, then the next read shows CANCELLED, not the cached CONFIRMED", () => {
    const created = order("o-2");
    write(() => store.insert(created));
    const confirmed = onPaymentAuthorized(created, "pay-2", new Date("2026-01-01T10:00:01.000Z"));
    if (confirmed.kind !== "confirmed") throw new Error(confirmed.kind);
    write(() => store.update(confirmed.order));
    expect(store.get("o-2")?.status).toBe("CONFIRMED");
    expect(store.get("o-2")).toBe(store.get("o-2")); // served from the cache of terminal orders

    const cancelled = cancelByCustomer(confirmed.order, "changed my mind", new Date("2026-01-01T10:00:02.000Z"));
    write(() => store.update(cancelled.order));

    expect(store.get("o-2")).toEqual(cancelled.order);
    expect(store.get("o-2")?.history.map((h) => h.status)).toEqual(["AWAITING_PAYMENT", "CONFIRMED", "CANCELLED"]);
  });

  it("when a transaction reads a terminal order it then rolls back, then later reads show the committed state", () => {
    const created = order("o-3");
    write(() => store.insert(created));
    const confirmed = onPaymentAuthorized(created, "pay-3", new Date("2026-01-01T10:00:01.000Z"));
    if (confirmed.kind !== "confirmed") throw new Error(confirmed.kind);

    expect(() =>
      write(() => {
        store.update(confirmed.order);
        expect(store.get("o-3")?.status).toBe("CONFIRMED"); // uncommitted: must not be cached
        throw new Error("rolled back");
      }),
    ).toThrow("rolled back");

    expect(store.get("o-3")?.status).toBe("AWAITING_PAYMENT");
  });

  it("when orders are listed, then each carries its own lines and history", () => {
    write(() => {
      for (const id of ["o-a", "o-b", "o-c"]) store.insert(order(id));
    });

    const page = store.list({ customerId: "cust-1" }, 2, undefined);

    expect(page.orders.map((o) => o.orderId)).toEqual(["o-c", "o-b"]);
    expect(page.orders[0]).toEqual(order("o-c"));
    expect(page.more).toBe(true);
  });
});
