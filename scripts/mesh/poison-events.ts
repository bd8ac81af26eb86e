/**
 * Poison events the labs and the system tests publish on purpose. One definition, so the `poison` lab and the
 * dead-letter test mean the same event when they say "an order in a currency payment does not take".
 */
import { create, type MessageShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";

/** FOREIGN_CURRENCY is a currency the mesh's payment service does not take unless PAYMENT_CURRENCIES adds it. */
export const FOREIGN_CURRENCY = "USD";

/**
 * foreignCurrencyOrderCreated is a well-formed OrderCreated priced in {@link FOREIGN_CURRENCY}, as another deployment
 * sharing the broker might publish: every field valid, yet payment must refuse it and dead-letter it.
 */
export function foreignCurrencyOrderCreated(orderId: string, customerId: string): MessageShape<typeof OrderCreatedSchema> {
  const price = { currencyCode: FOREIGN_CURRENCY, amountMinor: 999n };
  return create(OrderCreatedSchema, {
    orderId,
    customerId,
    lines: [{ productId: "sku-usd", quantity: 1, unitPrice: price, lineTotal: price }],
    total: price,
    cardToken: "tok_visa",
    createTime: timestampNow(),
  });
}
