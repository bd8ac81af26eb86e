/**
 * Customers for the gateway's ownership tests: a subject with a customer's token (orders:write, no admin scope), and
 * a v2 order placed over REST in that customer's name.
 */
import { expect } from "vitest";
import { uniqueId } from "../../../test/system/fixtures.js";
import type { GatewayMesh } from "./gateway-mesh.js";
import { call } from "./rest-client.js";

/** Customer is a subject and a customer's token for it (orders:write, no admin scope). */
export interface Customer {
  readonly subject: string;
  readonly token: string;
}

/** customer mints a token for a fresh subject named after `prefix`. */
export async function customer(gm: GatewayMesh, prefix: string): Promise<Customer> {
  const subject = uniqueId(prefix);
  return { subject, token: await gm.token({ subject, scopes: ["orders:write"] }) };
}

/** placeOrder creates one unit of `productId` for `owner` over REST (v2) and returns the order id. */
export async function placeOrder(gm: GatewayMesh, owner: Customer, productId: string): Promise<string> {
  const created = await call(gm.baseUrl, "POST", "/api/v2/orders", {
    body: { customerId: owner.subject, items: [{ productId, quantity: 1 }], payment: { cardToken: "tok_visa" } },
    token: owner.token,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.order.orderId as string;
}
