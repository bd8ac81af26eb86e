/**
 * FIELD_LIMITS are the bounds the services enforce on request fields, as JSON Schema keywords, keyed by
 * `<message type>.<proto field name>`: beyond them a call is INVALID_ARGUMENT naming the field. The descriptors
 * cannot carry them (no validation annotations in the protos), so they are stated here once, next to where the
 * document is built; gateway/test/openapi-limits.test.ts walks each one both ways against the running services,
 * so the document cannot promise more or less than the servers do.
 */
import type { JsonSchema } from "./schemas.js";

const PAGE_SIZE: JsonSchema = {
  minimum: 0,
  description: "How many to return: 0 or absent means 50, more than 200 means 200; negative is INVALID_ARGUMENT.",
};
const CUSTOMER_ID: JsonSchema = { minLength: 1, maxLength: 64 };
const CARD_TOKEN: JsonSchema = { minLength: 1, maxLength: 128 };
const LINES: JsonSchema = { minItems: 1, maxItems: 50, description: "At least one, at most 50; each product once." };
const QUANTITY: JsonSchema = { minimum: 1, maximum: 1000 };
const UUID: JsonSchema = { format: "uuid" };

/** FIELD_LIMITS: see the file comment. */
export const FIELD_LIMITS: Readonly<Record<string, JsonSchema>> = {
  "shop.order.v1.CreateOrderRequest.customer_id": CUSTOMER_ID,
  "shop.order.v1.CreateOrderRequest.card_token": CARD_TOKEN,
  "shop.order.v1.CreateOrderRequest.lines": LINES,
  "shop.order.v1.CreateOrderLine.quantity": QUANTITY,
  "shop.order.v1.ListOrdersRequest.page_size": PAGE_SIZE,
  "shop.order.v2.CreateOrderRequest.customer_id": CUSTOMER_ID,
  "shop.order.v2.PaymentMethod.card_token": CARD_TOKEN,
  "shop.order.v2.CreateOrderRequest.items": LINES,
  "shop.order.v2.CreateOrderItem.quantity": QUANTITY,
  "shop.order.v2.ListOrdersRequest.page_size": PAGE_SIZE,
  "shop.inventory.v1.ListProductsRequest.page_size": PAGE_SIZE,
  "shop.payment.v1.ListPaymentsRequest.page_size": PAGE_SIZE,
  "shop.payment.v1.ListPaymentsRequest.order_id": { ...UUID, description: "Only this order's payments (a UUID); empty: all." },
  "shop.payment.v1.GetPaymentRequest.payment_id": UUID,
  "shop.payment.v1.RefundPaymentRequest.payment_id": UUID,
  "shop.payment.v1.RefundPaymentRequest.reason": { maxLength: 500 },
};

/** IDEMPOTENCY_KEY_LIMITS bound the `Idempotency-Key` header (order's idempotencyKeyOf). */
export const IDEMPOTENCY_KEY_LIMITS: JsonSchema = { maxLength: 200 };

/** withLimits adds a field's limits (if any) to its schema; a description already there comes first. */
export function withLimits(messageType: string, fieldName: string, schema: JsonSchema): JsonSchema {
  const limits = FIELD_LIMITS[`${messageType}.${fieldName}`];
  if (!limits) return schema;
  const description = [schema["description"], limits["description"]].filter(Boolean).join(" ");
  return { ...schema, ...limits, ...(description ? { description } : {}) };
}
