import { createHash } from "node:crypto";
import { invalidArgument } from "#shared/errors.js";

/** Limits of what a customer may ask for, as the protos document them. */
const MAX_CUSTOMER_ID_LENGTH = 64;
const MAX_LINES = 50;
const MIN_QUANTITY = 1;
const MAX_QUANTITY = 1000;
const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
/** MAX_CARD_TOKEN_LENGTH bounds a vault token (real ones are ~30 characters): it travels in every OrderCreated event. */
const MAX_CARD_TOKEN_LENGTH = 128;

/** RequestedLine is one product and how many of it a customer asks for. */
export interface RequestedLine {
  readonly productId: string;
  readonly quantity: number;
}

/** CreateOrderCommand is a validated CreateOrder request, whichever API version it came in. */
export interface CreateOrderCommand {
  readonly customerId: string;
  readonly lines: readonly RequestedLine[];
  readonly cardToken: string;
  /**
   * linesField is how the caller's API version spells the lines (v1 `lines`, v2 `items`), so that a problem found
   * only later, when inventory answers (an unknown product, prices in two currencies), still names the caller's field.
   */
  readonly linesField: string;
}

/*
 * The rules below check one request field each and throw INVALID_ARGUMENT naming it as the caller's API version
 * spells it (`field`), so a client can point at what it sent: `items[1].quantity: must be between 1 and 1000`.
 */

/** requiredText returns the trimmed value, or rejects a blank one as `<field>: is required`. */
export function requiredText(field: string, value: string): string {
  const text = value.trim();
  if (text === "") throw invalidArgument(field, "is required");
  return text;
}

/** customerIdOf checks a customer id: required, at most {@link MAX_CUSTOMER_ID_LENGTH} characters. */
export function customerIdOf(field: string, value: string): string {
  const customerId = requiredText(field, value);
  if (customerId.length > MAX_CUSTOMER_ID_LENGTH) {
    throw invalidArgument(field, `must be at most ${MAX_CUSTOMER_ID_LENGTH} characters`);
  }
  return customerId;
}

/** cardTokenOf checks a card token: required, at most {@link MAX_CARD_TOKEN_LENGTH} characters. */
export function cardTokenOf(field: string, value: string): string {
  const token = requiredText(field, value);
  if (token.length > MAX_CARD_TOKEN_LENGTH) throw invalidArgument(field, `must be at most ${MAX_CARD_TOKEN_LENGTH} characters`);
  return token;
}

/**
 * orderLinesOf checks the lines of an order: 1 to {@link MAX_LINES} of them, each naming a product once with a
 * quantity from {@link MIN_QUANTITY} to {@link MAX_QUANTITY}; errors name `<field>[i].product_id` or `.quantity`.
 */
export function orderLinesOf(field: string, lines: readonly RequestedLine[]): RequestedLine[] {
  if (lines.length < 1 || lines.length > MAX_LINES) {
    throw invalidArgument(field, `must have between 1 and ${MAX_LINES} entries, got ${lines.length}`);
  }
  const seen = new Map<string, number>();
  return lines.map((line, i) => {
    const productId = requiredText(`${field}[${i}].product_id`, line.productId);
    const first = seen.get(productId);
    if (first !== undefined) {
      throw invalidArgument(
        `${field}[${i}].product_id`,
        `"${productId}" is already ordered in ${field}[${first}]; order each product once`,
      );
    }
    seen.set(productId, i);
    if (!Number.isInteger(line.quantity) || line.quantity < MIN_QUANTITY || line.quantity > MAX_QUANTITY) {
      throw invalidArgument(`${field}[${i}].quantity`, `must be between ${MIN_QUANTITY} and ${MAX_QUANTITY}`);
    }
    return { productId, quantity: line.quantity };
  });
}

/**
 * idempotencyKeyOf returns the `idempotency-key` header's key (undefined when absent or blank) or rejects an
 * oversized one. The header is spelled the same in every API version.
 */
export function idempotencyKeyOf(key: string | undefined): string | undefined {
  if (key === undefined || key.trim() === "") return undefined;
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalidArgument("idempotency-key", `must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  return key;
}

/**
 * requestFingerprint is the canonical hash of what a CreateOrder asks for: customer, lines sorted by product and the
 * card token. Neither the lines' order nor the API version changes what is ordered, so neither changes the
 * fingerprint (the same key may come through v1 and then v2); anything else does.
 */
export function requestFingerprint(command: CreateOrderCommand): string {
  const lines = [...command.lines]
    .sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0))
    .map((line) => [line.productId, line.quantity]);
  const canonical = JSON.stringify({ c: command.customerId, l: lines, t: command.cardToken });
  return createHash("sha256").update(canonical).digest("hex");
}
