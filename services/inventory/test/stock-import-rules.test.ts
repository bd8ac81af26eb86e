import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { MAX_STOCK, planImportLine, type ImportLine } from "../src/domain/stock-import.js";

const line = (overrides: Partial<ImportLine>): ImportLine => ({
  productId: "sku-a",
  quantity: 5,
  name: "",
  price: undefined,
  ...overrides,
});
const known = { available: 10, reserved: 0 };

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof ConnectError && error.code === Code.InvalidArgument) return error.rawMessage;
    throw error;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

describe("planImportLine", () => {
  it("when the product is known, then the line restocks it (name and price are ignored)", () => {
    expect(planImportLine(line({ name: "ignored" }), known)).toEqual({ kind: "restock", productId: "sku-a", quantity: 5 });
  });

  it("when the product is unknown and has a name and price, then the line creates it", () => {
    const plan = planImportLine(
      line({ productId: "sku-new", name: " Tamper ", price: { currencyCode: "EUR", amountMinor: 2500n } }),
      undefined,
    );
    expect(plan).toEqual({
      kind: "create",
      productId: "sku-new",
      quantity: 5,
      name: "Tamper",
      price: { currencyCode: "EUR", amountMinor: 2500n },
    });
  });

  it.each([
    ["the product id is empty", line({ productId: "" }), known, "product_id: is required"],
    ["the quantity is zero", line({ quantity: 0 }), known, "quantity: must be positive"],
    ["the quantity is negative", line({ quantity: -3 }), known, "quantity: must be positive"],
    [
      "the stock would overflow int32",
      line({ quantity: 1 }),
      { available: MAX_STOCK, reserved: 0 },
      `quantity: would raise the stock of "sku-a" above ${MAX_STOCK}`,
    ],
    [
      "a new product has no name",
      line({ productId: "sku-new", price: { currencyCode: "EUR", amountMinor: 1n } }),
      undefined,
      'name: is required to create unknown product "sku-new"',
    ],
    [
      "a new product has no price",
      line({ productId: "sku-new", name: "New" }),
      undefined,
      'price: is required to create unknown product "sku-new"',
    ],
    [
      "a new product's currency is not ISO 4217",
      line({ productId: "sku-new", name: "New", price: { currencyCode: "euro", amountMinor: 1n } }),
      undefined,
      "price.currency_code: must be a three-letter ISO 4217 code such as EUR",
    ],
    [
      "a new product's price is negative",
      line({ productId: "sku-new", name: "New", price: { currencyCode: "EUR", amountMinor: -1n } }),
      undefined,
      expect.stringMatching(/^price\.amount_minor: must be between 0 and/),
    ],
    [
      "a new product's id has a slash",
      line({ productId: "bad id/1", name: "New", price: { currencyCode: "EUR", amountMinor: 1n } }),
      undefined,
      expect.stringMatching(/^product_id: must be 1-64 letters/),
    ],
  ])("when %s, then the error names the field", (_label, bad, current, expected) => {
    expect(messageOf(() => planImportLine(bad, current))).toEqual(expected);
  });
});
