import { describe, expect, it } from "vitest";
import { cardLast4, decideCharge, InvalidChargeError, UnsupportedCurrencyError, type ChargeRequest } from "../src/domain/card-processor.js";
import { optionalUuid, requireUuid } from "#shared/ids.js";
import { planRefund } from "../src/domain/payment.js";
import { Code, ConnectError } from "@connectrpc/connect";

const EUR = new Set(["EUR"]);
const charge = (cardToken: string, amountMinor: bigint, currencyCode = "EUR"): ChargeRequest => ({
  cardToken,
  amount: { currencyCode, amountMinor },
});

describe("the simulated card processor", () => {
  it("when the card token is an ordinary one, then the charge is authorized", () => {
    expect(decideCharge(charge("tok_visa", 1234n), EUR)).toEqual({ outcome: "AUTHORIZED" });
  });

  it.each(["tok_decline", "tok_decline_visa", "tok_declined"])(
    "when the card token is %s, then it is declined as 'card declined'",
    (token) => {
      expect(decideCharge(charge(token, 1234n), EUR)).toEqual({ outcome: "DECLINED", reason: "card declined" });
    },
  );

  it("when the card token is tok_insufficient_funds, then it is declined as 'insufficient funds'", () => {
    expect(decideCharge(charge("tok_insufficient_funds", 1234n), EUR)).toEqual({
      outcome: "DECLINED",
      reason: "insufficient funds",
    });
  });

  it("when the total is above 1,000,000 minor units, then it is declined as over the card limit", () => {
    expect(decideCharge(charge("tok_visa", 1_000_001n), EUR)).toEqual({
      outcome: "DECLINED",
      reason: "amount exceeds the card limit",
    });
  });

  it("when the total is exactly the card limit, then it is authorized", () => {
    expect(decideCharge(charge("tok_visa", 1_000_000n), EUR)).toEqual({ outcome: "AUTHORIZED" });
  });

  it("when a declining token also exceeds the limit, then the token's reason wins", () => {
    expect(decideCharge(charge("tok_decline", 5_000_000n), EUR)).toMatchObject({ reason: "card declined" });
  });

  it("when the currency is not enabled, then it throws an operational error instead of declining", () => {
    expect(() => decideCharge(charge("tok_decline", 100n, "USD"), EUR)).toThrow(UnsupportedCurrencyError);
    expect(() => decideCharge(charge("tok_visa", 100n, "USD"), EUR)).toThrow(/currency "USD" is not enabled/);
  });

  it("when the currency is enabled by configuration, then it is charged", () => {
    expect(decideCharge(charge("tok_visa", 100n, "USD"), new Set(["EUR", "USD"]))).toEqual({ outcome: "AUTHORIZED" });
  });

  it("when the amount is not positive, then it throws instead of charging", () => {
    expect(() => decideCharge(charge("tok_visa", 0n), EUR)).toThrow(InvalidChargeError);
  });

  it("keeps only the last four characters of the card token", () => {
    expect(cardLast4("tok_visa_4242")).toBe("4242");
    expect(cardLast4("ab")).toBe("ab");
  });
});

describe("the refund rule", () => {
  it("when the payment is authorized, then it is refunded", () => {
    expect(planRefund({ paymentId: "p", status: "AUTHORIZED" })).toBe("refund");
  });

  it("when the payment is already refunded, then it stays as it is", () => {
    expect(planRefund({ paymentId: "p", status: "REFUNDED" })).toBe("already-refunded");
  });

  it("when the payment was declined, then the refund is FAILED_PRECONDITION", () => {
    let error: unknown;
    try {
      planRefund({ paymentId: "p", status: "DECLINED" });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
  });
});

describe("id validation", () => {
  it("names the field when an id is missing or not a UUID", () => {
    expect(() => requireUuid("payment_id", "")).toThrow("payment_id: required");
    expect(() => requireUuid("payment_id", "nope")).toThrow("payment_id: must be a UUID");
    expect(() => optionalUuid("order_id", "nope")).toThrow("order_id: must be a UUID");
    expect(optionalUuid("order_id", "")).toBe("");
  });
});
