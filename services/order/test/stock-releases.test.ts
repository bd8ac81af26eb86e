import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { notFound, unavailable } from "#shared/errors.js";
import { openDatabase, type SqliteDatabase } from "#shared/store/database.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { StockReleases } from "../src/stock-releases.js";
import { StockHoldStore, stockHoldSchema } from "../src/store/stock-hold-store.js";
import { quietLogger } from "./helpers.js";

/** FakeStock answers ReleaseReservation the way inventory does: released, NOT_FOUND, or unreachable. */
class FakeStock {
  readonly held = new Set<string>();
  reachable = true;
  calls = 0;

  release = async (orderId: string): Promise<void> => {
    this.calls += 1;
    if (!this.reachable) throw unavailable("connection refused");
    if (!this.held.delete(orderId)) throw notFound(`reservation "${orderId}"`);
  };
}

const RESERVE_TIMEOUT_MS = 100;

let db: SqliteDatabase;
let stock: FakeStock;

function releasesOn(database: SqliteDatabase): StockReleases {
  return new StockReleases({
    holds: new StockHoldStore(database),
    release: stock.release,
    reserveTimeoutMs: RESERVE_TIMEOUT_MS,
    logger: quietLogger,
    options: { firstBackoffMs: 50, maxBackoffMs: 100 },
  });
}

beforeEach(() => {
  db = openDatabase(":memory:", stockHoldSchema);
  stock = new FakeStock();
});

afterEach(() => db.close());

describe("StockReleases", () => {
  it("when a release overtakes its reservation (NOT_FOUND while it may still arrive), then it is tried again after, and frees the late hold", async () => {
    // Arrange
    const releases = releasesOn(db);
    releases.opening("order-1");

    // Act: the release reaches inventory first, then the reservation.
    await releases.release("order-1", "answer lost");
    stock.held.add("order-1");

    // Assert
    expect(new StockHoldStore(db).count()).toBe(1);
    await waitUntil(
      async () => {
        await releases.runDue();
        return !stock.held.has("order-1");
      },
      { timeoutMs: 5_000, message: "the late reservation to be released" },
    );
    expect(stock.calls).toBe(2);
    expect(new StockHoldStore(db).count()).toBe(0);
  });

  it("when the process stopped between reserving and storing the order, then a later run releases the hold once it cannot be in flight", async () => {
    // Arrange: a run that reserved and then died.
    releasesOn(db).opening("order-2");
    stock.held.add("order-2");

    // Act
    const restarted = releasesOn(db);
    await restarted.runDue();

    // Assert: not while the reservation could still be waited on, then released.
    expect(stock.calls).toBe(0);
    await waitUntil(
      async () => {
        await restarted.runDue();
        return !stock.held.has("order-2");
      },
      { timeoutMs: 5_000, message: "the orphaned hold to be released" },
    );
    expect(new StockHoldStore(db).count()).toBe(0);
  });

  it("when inventory is unreachable, then the release is kept and retried with backoff until it gets through", async () => {
    // Arrange
    const releases = releasesOn(db);
    releases.opening("order-3");
    stock.held.add("order-3");
    stock.reachable = false;

    // Act
    await releases.release("order-3", "storing failed");
    await waitUntil(
      async () => {
        await releases.runDue();
        return stock.calls >= 3;
      },
      { timeoutMs: 5_000, message: "retries while inventory is down" },
    );
    stock.reachable = true;

    // Assert
    expect(stock.held.has("order-3")).toBe(true);
    await waitUntil(
      async () => {
        await releases.runDue();
        return !stock.held.has("order-3");
      },
      { timeoutMs: 5_000, message: "the release once inventory is back" },
    );
    expect(new StockHoldStore(db).count()).toBe(0);
  });
});
