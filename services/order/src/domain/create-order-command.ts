import { createHash } from "node:crypto";
import { failedPrecondition, invalidArgument } from "../../../shared/src/errors.js";
import { mixedCurrencies, sum, times, type Money } from "../../../shared/src/money.js";
import type { OrderLine } from "./order.js";

/** Limits of a CreateOrder request, as the proto documents them. */
export const MAX_CUSTOMER_ID_LENGTH = 64;
export const MAX_LINES = 50;
export const MIN_QUANTITY = 1;
export const MAX_QUANTITY = 1000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

/** CreateOrderInput is a CreateOrder request as it arrives (the proto message fits it). */
export interface CreateOrderInput {
  readonly customerId: string;
  readonly lines: readonly { readonly productId: string; readonly quantity: number }[];
  readonly cardToken: string;
}

/** CreateOrderCommand is a validated CreateOrder request. */
export interface CreateOrderCommand {
  readonly customerId: string;
  readonly lines: readonly { readonly productId: string; readonly quantity: number }[];
  readonly cardToken: string;
}

/**
 * CreateOrderFields names a CreateOrder request's fields as the caller's API version spells them, so one validation
 * serves every version and its errors still point at what the caller sent (v1 `lines[0].quantity`, v2
 * `items[0].quantity`). Only the fields whose path differs between versions are here.
 */
export interface CreateOrderFields {
  readonly customerId: string;
  /** lines is the repeated field holding the products; `product_id` and `quantity` hang below it in every version. */
  readonly lines: string;
  readonly cardToken: string;
}

/** V1_FIELDS are shop.order.v1's field paths, the default. */
export const V1_FIELDS: CreateOrderFields = { customerId: "customer_id", lines: "lines", cardToken: "card_token" };

/**
 * validateCreateOrder checks a request before anything else happens and throws INVALID_ARGUMENT naming the first
 * bad field, in the caller's proto field paths (`lines[1].quantity: must be between 1 and 1000`), so a client can
 * point at it.
 */
export function validateCreateOrder(input: CreateOrderInput, fields: CreateOrderFields = V1_FIELDS): CreateOrderCommand {
  const customerId = input.customerId.trim();
  if (customerId === "") throw invalidArgument(fields.customerId, "is required");
  if (customerId.length > MAX_CUSTOMER_ID_LENGTH) {
    throw invalidArgument(fields.customerId, `must be at most ${MAX_CUSTOMER_ID_LENGTH} characters`);
  }
  if (input.lines.length < 1 || input.lines.length > MAX_LINES) {
    throw invalidArgument(fields.lines, `must have between 1 and ${MAX_LINES} entries, got ${input.lines.length}`);
  }
  const seen = new Map<string, number>();
  const lines = input.lines.map((line, i) => {
    const productId = line.productId.trim();
    if (productId === "") throw invalidArgument(`${fields.lines}[${i}].product_id`, "is required");
    const first = seen.get(productId);
    if (first !== undefined) {
      throw invalidArgument(
        `${fields.lines}[${i}].product_id`,
        `"${productId}" is already ordered in ${fields.lines}[${first}]; order each product once`,
      );
    }
    seen.set(productId, i);
    if (!Number.isInteger(line.quantity) || line.quantity < MIN_QUANTITY || line.quantity > MAX_QUANTITY) {
      throw invalidArgument(`${fields.lines}[${i}].quantity`, `must be between ${MIN_QUANTITY} and ${MAX_QUANTITY}`);
    }
    return { productId, quantity: line.quantity };
  });
  const cardToken = input.cardToken.trim();
  if (cardToken === "") throw invalidArgument(fields.cardToken, "is required");
  return { customerId, lines, cardToken };
}

/** validateIdempotencyKey returns the key (undefined when absent) or rejects an oversized one. */
export function validateIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined || key.trim() === "") return undefined;
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalidArgument("idempotency-key", `must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  return key;
}

/**
 * requestFingerprint is the canonical hash of what a CreateOrder asks for: customer, lines sorted by product and the
 * card token. Line order does not change the order, so it does not change the fingerprint; anything else does.
 */
export function requestFingerprint(command: CreateOrderCommand): string {
  const lines = [...command.lines]
    .sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0))
    .map((line) => [line.productId, line.quantity]);
  const canonical = JSON.stringify({ c: command.customerId, l: lines, t: command.cardToken });
  return createHash("sha256").update(canonical).digest("hex");
}

/**
 * priceLines prices the requested lines with the unit prices inventory reserved them at, and totals them. An order
 * has one currency; products priced in different ones are FAILED_PRECONDITION (the catalog, not the request, is the
 * problem).
 */
export function priceLines(
  requested: CreateOrderCommand["lines"],
  unitPrices: ReadonlyMap<string, Money>,
  fields: CreateOrderFields = V1_FIELDS,
): { lines: OrderLine[]; total: Money } {
  const lines = requested.map((line) => {
    const unitPrice = unitPrices.get(line.productId);
    if (unitPrice === undefined) throw new Error(`reservation has no price for product "${line.productId}"`);
    return { ...line, unitPrice, lineTotal: times(unitPrice, line.quantity) };
  });
  const mixed = mixedCurrencies(lines.map((line) => line.unitPrice));
  if (mixed !== undefined) {
    throw failedPrecondition(`${fields.lines}: products are priced in ${mixed[0]} and ${mixed[1]}; an order has one currency`);
  }
  return { lines, total: sum(lines.map((line) => line.lineTotal)) };
}
