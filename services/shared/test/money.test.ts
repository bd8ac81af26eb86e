import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { MoneySchema } from "#gen/shop/common/v1/money_pb.js";
import {
  formatMoney,
  fromProtoMoney,
  MAX_AMOUNT_MINOR,
  mixedCurrencies,
  money,
  sum,
  times,
  toProtoMoney,
  validateMoney,
  type Money,
} from "#shared/money.js";

const eur = (amountMinor: bigint | number) => money("EUR", amountMinor);

describe("validateMoney", () => {
  it("when the amount is a valid price, then it comes back unchanged", () => {
    expect(validateMoney("price", eur(1890))).toEqual({ currencyCode: "EUR", amountMinor: 1890n });
    expect(validateMoney("price", eur(0)).amountMinor).toBe(0n);
    expect(validateMoney("price", eur(MAX_AMOUNT_MINOR)).amountMinor).toBe(MAX_AMOUNT_MINOR);
  });

  it.each([
    ["missing", undefined, "items[2].price: is required"],
    ["lowercase", money("eur", 1), "items[2].price.currency_code: must be a three-letter ISO 4217 code such as EUR"],
    ["a name", money("euro", 1), "items[2].price.currency_code: must be a three-letter ISO 4217 code such as EUR"],
    ["empty", money("", 1), "items[2].price.currency_code: must be a three-letter ISO 4217 code such as EUR"],
    ["negative", eur(-1), `items[2].price.amount_minor: must be between 0 and ${MAX_AMOUNT_MINOR}`],
    ["beyond 2^53 - 1", eur(MAX_AMOUNT_MINOR + 1n), `items[2].price.amount_minor: must be between 0 and ${MAX_AMOUNT_MINOR}`],
  ])("when the amount is %s, then INVALID_ARGUMENT names the field under the caller's path", (_, value, message) => {
    expect(() => validateMoney("items[2].price", value as Money | undefined)).toThrow(
      expect.objectContaining({ constructor: ConnectError, code: Code.InvalidArgument, rawMessage: message }),
    );
  });
});

describe("Money arithmetic", () => {
  it("when a unit price is taken a quantity of times, then the line total is exact in minor units", () => {
    expect(times(eur(250), 3)).toEqual(eur(750));
    // Beyond 2^53 a JS number would round; bigint does not.
    expect(times(eur(MAX_AMOUNT_MINOR), 1000).amountMinor).toBe(MAX_AMOUNT_MINOR * 1000n);
  });

  it("when amounts share a currency, then they sum and no mix is reported", () => {
    const amounts = [eur(500), eur(597), eur(3)];
    expect(mixedCurrencies(amounts)).toBeUndefined();
    expect(sum(amounts)).toEqual(eur(1100));
  });

  it("when amounts mix currencies, then the first two are named and sum refuses to add them", () => {
    const amounts = [eur(1), eur(2), money("USD", 3), money("GBP", 4)];
    expect(mixedCurrencies(amounts)).toEqual(["EUR", "USD"]);
    expect(() => sum(amounts)).toThrow("cannot add EUR and USD");
  });

  it("when there is nothing to sum, then it throws rather than invent a currency", () => {
    expect(() => sum([])).toThrow(/no currency/);
  });

  it("formats an amount for log lines in minor units", () => {
    expect(formatMoney(eur(1250))).toBe("1250 EUR");
  });
});

describe("the shop.common.v1.Money mapping", () => {
  it("when an amount goes to the wire and back, then it is the same amount, beyond 2^53 included", () => {
    const big = money("JPY", 2n ** 62n + 1n);
    const bytes = toBinary(MoneySchema, toProtoMoney(big));
    expect(fromProtoMoney(fromBinary(MoneySchema, bytes))).toEqual(big);
  });

  it("when the message field is unset, then there is no amount", () => {
    expect(fromProtoMoney(undefined)).toBeUndefined();
  });
});
