/**
 * The simulated card processor (docs/architecture.md, "The simulated card processor"). It is deterministic so that
 * tests and demos can pick an outcome by card token or amount. Pure: no I/O, no clock, no randomness.
 */
import type { Money } from "#shared/money.js";

/** ChargeRequest is what the processor needs to decide one charge. */
export interface ChargeRequest {
  readonly cardToken: string;
  readonly amount: Money;
}

/** ChargeDecision is the processor's answer: authorized, or declined with a reason the customer may see. */
export type ChargeDecision = { readonly outcome: "AUTHORIZED" } | { readonly outcome: "DECLINED"; readonly reason: string };

/** CARD_LIMIT_MINOR is the largest total a card accepts: 1,000,000 minor units (10,000.00). */
const CARD_LIMIT_MINOR = 1_000_000n;

/** DECLINE_TOKEN_PREFIX: every token starting with it is declined, so demos can use `tok_decline_visa` and friends. */
const DECLINE_TOKEN_PREFIX = "tok_decline";

/** INSUFFICIENT_FUNDS_TOKEN is declined for lack of funds. */
const INSUFFICIENT_FUNDS_TOKEN = "tok_insufficient_funds";

/**
 * UnsupportedCurrencyError is an operational fault, not a decline: the merchant account is not set up for the
 * currency. The customer's card did nothing wrong, so the event must be retried and dead-lettered (and replayed once
 * the currency is configured), never answered with PaymentDeclined.
 */
export class UnsupportedCurrencyError extends Error {
  override readonly name = "UnsupportedCurrencyError";
  constructor(
    readonly currencyCode: string,
    supported: ReadonlySet<string>,
  ) {
    super(`currency "${currencyCode}" is not enabled for this merchant (PAYMENT_CURRENCIES=${[...supported].join(",")})`);
  }
}

/**
 * InvalidChargeError is a charge the processor cannot even attempt (no amount, a non-positive amount). It is an
 * operational fault as well: the producer sent a broken event, and the dead-letter queue is where people look.
 */
export class InvalidChargeError extends Error {
  override readonly name = "InvalidChargeError";
}

/**
 * decideCharge applies the processor's rules, first match wins:
 * an unsupported currency throws {@link UnsupportedCurrencyError}; a token starting with `tok_decline` is declined
 * "card declined"; `tok_insufficient_funds` is declined "insufficient funds"; a total above
 * {@link CARD_LIMIT_MINOR} is declined "amount exceeds the card limit"; anything else is authorized.
 */
export function decideCharge(request: ChargeRequest, supportedCurrencies: ReadonlySet<string>): ChargeDecision {
  const { cardToken, amount } = request;
  if (!supportedCurrencies.has(amount.currencyCode)) {
    throw new UnsupportedCurrencyError(amount.currencyCode, supportedCurrencies);
  }
  if (amount.amountMinor <= 0n) throw new InvalidChargeError(`amount must be positive, got ${amount.amountMinor}`);
  if (cardToken.startsWith(DECLINE_TOKEN_PREFIX)) return { outcome: "DECLINED", reason: "card declined" };
  if (cardToken === INSUFFICIENT_FUNDS_TOKEN) return { outcome: "DECLINED", reason: "insufficient funds" };
  if (amount.amountMinor > CARD_LIMIT_MINOR) return { outcome: "DECLINED", reason: "amount exceeds the card limit" };
  return { outcome: "AUTHORIZED" };
}

/** cardLast4 is the last four characters of the token, the only part of a card the service keeps for display. */
export function cardLast4(cardToken: string): string {
  return cardToken.slice(-4);
}
