import { create } from "@bufbuild/protobuf";
import { MoneySchema, type Money as ProtoMoney } from "#gen/shop/common/v1/money_pb.js";
import { invalidArgument } from "./errors.js";

/**
 * Money is an amount of one ISO 4217 currency in its minor units (cents for EUR), as `shop.common.v1.Money` carries
 * it: a bigint, so no floating point ever touches a price.
 */
export interface Money {
  readonly currencyCode: string;
  readonly amountMinor: bigint;
}

/**
 * MAX_AMOUNT_MINOR bounds an amount a request may set: the stores bind it to SQLite as a JS number, which holds it
 * exactly only up to 2^53 - 1.
 */
export const MAX_AMOUNT_MINOR = BigInt(Number.MAX_SAFE_INTEGER);

const CURRENCY_CODE = /^[A-Z]{3}$/;

/** money builds an amount; a number is taken as whole minor units. */
export function money(currencyCode: string, amountMinor: bigint | number): Money {
  return { currencyCode, amountMinor: BigInt(amountMinor) };
}

/**
 * validateMoney checks an amount a caller sent and throws INVALID_ARGUMENT naming `<field>` when it is missing,
 * `<field>.currency_code` unless it is a three-letter ISO 4217 code, or `<field>.amount_minor` outside
 * 0..{@link MAX_AMOUNT_MINOR}.
 */
export function validateMoney(field: string, value: Money | undefined): Money {
  if (value === undefined) throw invalidArgument(field, "is required");
  if (!CURRENCY_CODE.test(value.currencyCode)) {
    throw invalidArgument(`${field}.currency_code`, "must be a three-letter ISO 4217 code such as EUR");
  }
  if (value.amountMinor < 0n || value.amountMinor > MAX_AMOUNT_MINOR) {
    throw invalidArgument(`${field}.amount_minor`, `must be between 0 and ${MAX_AMOUNT_MINOR}`);
  }
  return value;
}

/** times is `quantity` units at `unitPrice` each: a line's total. */
export function times(unitPrice: Money, quantity: number): Money {
  return { currencyCode: unitPrice.currencyCode, amountMinor: unitPrice.amountMinor * BigInt(quantity) };
}

/**
 * mixedCurrencies returns the first two different currencies among `amounts`, or undefined when they all share one.
 * Callers check it before {@link sum} so they can reject the mix in their own terms.
 */
export function mixedCurrencies(amounts: Iterable<Money>): [string, string] | undefined {
  let first: string | undefined;
  for (const { currencyCode } of amounts) {
    if (first === undefined) first = currencyCode;
    else if (currencyCode !== first) return [first, currencyCode];
  }
  return undefined;
}

/**
 * sum adds amounts of one currency. An empty list or a mix of currencies is a programming error here (adding EUR to
 * USD has no answer), so it throws a plain Error; check {@link mixedCurrencies} first where a mix can happen.
 */
export function sum(amounts: readonly Money[]): Money {
  const [first] = amounts;
  if (first === undefined) throw new Error("sum of no amounts has no currency");
  const mixed = mixedCurrencies(amounts);
  if (mixed !== undefined) throw new Error(`cannot add ${mixed[0]} and ${mixed[1]}`);
  return { currencyCode: first.currencyCode, amountMinor: amounts.reduce((total, m) => total + m.amountMinor, 0n) };
}

/** formatMoney writes an amount for log lines, e.g. `1250 EUR` (minor units). */
export function formatMoney(value: Money): string {
  return `${value.amountMinor} ${value.currencyCode}`;
}

/** toProtoMoney maps an amount to `shop.common.v1.Money`. */
export function toProtoMoney(value: Money): ProtoMoney {
  return create(MoneySchema, { currencyCode: value.currencyCode, amountMinor: value.amountMinor });
}

/** fromProtoMoney maps a `shop.common.v1.Money` to an amount; an unset message field stays undefined. */
export function fromProtoMoney(value: ProtoMoney | undefined): Money | undefined {
  return value === undefined ? undefined : { currencyCode: value.currencyCode, amountMinor: value.amountMinor };
}
