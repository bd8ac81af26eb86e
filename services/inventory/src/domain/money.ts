import { invalidArgument } from "../../../shared/src/errors.js";

/** Money is an amount in minor units of one ISO 4217 currency, as in shop.common.v1.Money. */
export interface Money {
  readonly currencyCode: string;
  readonly amountMinor: bigint;
}

/** MAX_PRICE_MINOR keeps prices within what SQLite INTEGER and JS numbers hold exactly. */
export const MAX_PRICE_MINOR = BigInt(Number.MAX_SAFE_INTEGER);

/** validatePrice checks a unit price, naming `<field>.currency_code` or `<field>.amount_minor` when it is wrong. */
export function validatePrice(field: string, price: Money | undefined): Money {
  if (price === undefined) throw invalidArgument(field, "is required");
  if (!/^[A-Z]{3}$/.test(price.currencyCode)) {
    throw invalidArgument(`${field}.currency_code`, "must be a three-letter ISO 4217 code such as EUR");
  }
  if (price.amountMinor < 0n || price.amountMinor > MAX_PRICE_MINOR) {
    throw invalidArgument(`${field}.amount_minor`, `must be between 0 and ${MAX_PRICE_MINOR}`);
  }
  return price;
}
