import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  cancelDecision,
  commitDecision,
  isExpired,
  planReservation,
  releaseDecision,
  sameRequest,
  validateReserveRequest,
  type Reservation,
  type ReserveRequest,
  type StockOnHand,
} from "../src/domain/reservation.js";

const eur = (amountMinor: number) => ({ currencyCode: "EUR", amountMinor: BigInt(amountMinor) });
const shelf: Record<string, StockOnHand> = {
  "sku-a": { productId: "sku-a", available: 10, price: eur(100) },
  "sku-b": { productId: "sku-b", available: 2, price: eur(250) },
};
const stockOf = (productId: string) => shelf[productId];
const request = (lines: ReserveRequest["lines"], ids = { reservationId: "r-1", orderId: "o-1" }): ReserveRequest => ({ ...ids, lines });

function thrown(run: () => unknown): ConnectError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw error;
  }
  throw new Error("expected a ConnectError");
}

describe("validateReserveRequest", () => {
  it.each([
    [{ reservationId: "", orderId: "o", lines: [{ productId: "sku-a", quantity: 1 }] }, "reservation_id: is required"],
    [{ reservationId: "r", orderId: " ", lines: [{ productId: "sku-a", quantity: 1 }] }, "order_id: is required"],
    [{ reservationId: "r", orderId: "o", lines: [] }, "lines: must contain at least one line"],
    [
      {
        reservationId: "r",
        orderId: "o",
        lines: [
          { productId: "sku-a", quantity: 1 },
          { productId: "", quantity: 1 },
        ],
      },
      "lines[1].product_id: is required",
    ],
    [
      {
        reservationId: "r",
        orderId: "o",
        lines: [
          { productId: "sku-a", quantity: 1 },
          { productId: "sku-b", quantity: 0 },
        ],
      },
      "lines[1].quantity: must be between 1 and 1000",
    ],
    [
      { reservationId: "r", orderId: "o", lines: [{ productId: "sku-a", quantity: 1001 }] },
      "lines[0].quantity: must be between 1 and 1000",
    ],
  ])("when the request is %j, then it is INVALID_ARGUMENT naming the field", (bad, message) => {
    const error = thrown(() => validateReserveRequest(bad));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe(message);
  });

  it("when a product appears twice, then the second line is named", () => {
    const error = thrown(() =>
      validateReserveRequest(
        request([
          { productId: "sku-a", quantity: 1 },
          { productId: "sku-a", quantity: 2 },
        ]),
      ),
    );
    expect(error.rawMessage).toMatch(/^lines\[1\]\.product_id: "sku-a" repeats lines\[0\]/);
  });

  it("when the request is well formed, then it passes", () => {
    expect(() => validateReserveRequest(request([{ productId: "sku-a", quantity: 1000 }]))).not.toThrow();
  });
});

describe("planReservation", () => {
  it("when every line fits, then the reservation is held with the current unit prices", () => {
    const plan = planReservation(
      request([
        { productId: "sku-a", quantity: 10 },
        { productId: "sku-b", quantity: 2 },
      ]),
      stockOf,
    );
    expect(plan.kind).toBe("held");
    expect(plan.lines.map((line) => line.unitPrice.amountMinor)).toEqual([100n, 250n]);
  });

  it("when one line is short, then nothing is held and the message names that product", () => {
    const plan = planReservation(
      request([
        { productId: "sku-a", quantity: 1 },
        { productId: "sku-b", quantity: 3 },
      ]),
      stockOf,
    );
    expect(plan).toMatchObject({ kind: "rejected" });
    expect(plan.kind === "rejected" && plan.message).toBe('insufficient stock: product "sku-b" has 2 available, 3 requested');
  });

  it("when a product is unknown, then it is NOT_FOUND naming the line", () => {
    const error = thrown(() =>
      planReservation(
        request([
          { productId: "sku-a", quantity: 1 },
          { productId: "sku-x", quantity: 1 },
        ]),
        stockOf,
      ),
    );
    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage).toBe('lines[1].product_id: product "sku-x" not found');
  });
});

describe("reservation transitions", () => {
  const held: Reservation = {
    reservationId: "r-1",
    orderId: "o-1",
    lines: [
      { productId: "sku-a", quantity: 2, unitPrice: eur(100) },
      { productId: "sku-b", quantity: 1, unitPrice: eur(250) },
    ],
    status: "HELD",
    reason: "",
    createdAt: new Date("2026-01-01T00:00:00Z"),
    updatedAt: new Date("2026-01-01T00:00:00Z"),
  };

  it("when a resend has the same lines in another order, then it is the same request", () => {
    expect(
      sameRequest(
        held,
        request([
          { productId: "sku-b", quantity: 1 },
          { productId: "sku-a", quantity: 2 },
        ]),
      ),
    ).toBe(true);
  });

  it("when a resend changes a quantity or the order, then it is not the same request", () => {
    expect(
      sameRequest(
        held,
        request([
          { productId: "sku-a", quantity: 3 },
          { productId: "sku-b", quantity: 1 },
        ]),
      ),
    ).toBe(false);
    expect(sameRequest(held, request(held.lines, { reservationId: "r-1", orderId: "o-2" }))).toBe(false);
  });

  it("when payment is authorized, then a held reservation is committed, a released one of an open order is reserved again, and the rest are left alone", () => {
    expect(commitDecision("HELD", false)).toBe("commit");
    expect(commitDecision("RELEASED", false)).toBe("re-reserve");
    expect(commitDecision("RELEASED", true)).toBe("skip");
    expect(commitDecision("COMMITTED", false)).toBe("skip");
    expect(commitDecision("COMMITTED", true)).toBe("skip");
  });

  it("when a release is asked for, then held releases, released is a no-op and committed is FAILED_PRECONDITION", () => {
    expect(releaseDecision("r-1", "HELD")).toBe("release");
    expect(releaseDecision("r-1", "RELEASED")).toBe("noop");
    expect(thrown(() => releaseDecision("r-1", "COMMITTED")).code).toBe(Code.FailedPrecondition);
  });

  it("when an order is cancelled, then held releases, committed restocks and released is skipped", () => {
    expect(cancelDecision("HELD")).toBe("release");
    expect(cancelDecision("COMMITTED")).toBe("restock");
    expect(cancelDecision("RELEASED")).toBe("skip");
  });

  it("when a held reservation outlives its ttl, then it is expired", () => {
    const ttl = 60_000;
    expect(isExpired(held, new Date(held.createdAt.getTime() + ttl - 1), ttl)).toBe(false);
    expect(isExpired(held, new Date(held.createdAt.getTime() + ttl), ttl)).toBe(true);
    expect(isExpired({ ...held, status: "COMMITTED" }, new Date(held.createdAt.getTime() + ttl), ttl)).toBe(false);
  });
});
