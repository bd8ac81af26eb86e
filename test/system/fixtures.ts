/**
 * Test data and small flows for system tests: each test creates its own products (through ImportStock) and uses
 * its own customer id, so tests sharing one mesh never see each other's stock or orders.
 */
import { status as grpcStatus } from "@grpc/grpc-js";
import type { Order } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import type { CallOptions } from "#shared/grpc/client.js";
import type { Mesh } from "./mesh.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

/** UUID_PATTERN matches a canonical UUID, as `ce_id` must be. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** RFC3339_PATTERN matches an RFC 3339 date-time with a zone, as `ce_time` must be. */
export const RFC3339_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** uniqueId is a short unique suffix for product and customer ids. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** createProduct creates a product with `available` units through ImportStock and returns its id. */
export async function createProduct(mesh: Mesh, available: number, priceMinor = 1_000n, currency = "EUR"): Promise<string> {
  const productId = uniqueId("sku-sys");
  const summary = await mesh.inventory.importStock([
    { productId, quantity: available, name: `System test ${productId}`, price: { currencyCode: currency, amountMinor: priceMinor } },
  ]);
  if (summary.createdCount !== 1) throw new Error(`could not create ${productId}: ${JSON.stringify(summary.errors)}`);
  return productId;
}

/** availableOf reads a product's available stock. */
export async function availableOf(mesh: Mesh, productId: string): Promise<number> {
  const { product } = await mesh.inventory.getProduct({ productId });
  return product?.stock?.availableQuantity ?? Number.NaN;
}

/** CreateOrderInit is a CreateOrderRequest as plain data (fields may be left out to test validation). */
export interface CreateOrderInit {
  customerId?: string;
  cardToken?: string;
  lines?: { productId?: string; quantity?: number }[];
}

/** orderOf builds a CreateOrderRequest for one product line. */
export function orderOf(
  productId: string,
  quantity = 1,
  extra: Omit<CreateOrderInit, "lines"> = {},
): CreateOrderInit & { customerId: string } {
  return { customerId: uniqueId("cust"), cardToken: "tok_visa", lines: [{ productId, quantity }], ...extra };
}

/** createOrder calls CreateOrder with an idempotency key (a fresh one unless given) and returns the order. */
export async function createOrder(
  mesh: Mesh,
  request: CreateOrderInit,
  key = crypto.randomUUID(),
  options: CallOptions = {},
): Promise<Order> {
  const response = await mesh.order.createOrder(request, { ...options, metadata: { "idempotency-key": key } });
  if (!response.order) throw new Error("CreateOrder answered without an order");
  return response.order;
}

/** statusName spells an OrderStatus like the proto does, e.g. ORDER_STATUS_CONFIRMED. */
export function statusName(status: OrderStatus): string {
  return `ORDER_STATUS_${OrderStatus[status]}`;
}

/** waitForStatus polls GetOrder until the order has `status`; on timeout the error shows the last status seen. */
export async function waitForStatus(mesh: Mesh, orderId: string, status: OrderStatus, timeoutMs = 30_000): Promise<Order> {
  let last: Order | undefined;
  return waitUntil(
    async () => {
      last = (await mesh.order.getOrder({ orderId })).order;
      return last?.status === status ? last : undefined;
    },
    {
      timeoutMs,
      intervalMs: 150,
      message: `order ${orderId} to be ${statusName(status)}`,
      describe: () => `${last ? statusName(last.status) : "no order"}\n${mesh.describe(15)}`,
    },
  );
}

/** grpcError catches a call's rejection and returns it with its numeric code and details. */
export async function grpcError(call: Promise<unknown>): Promise<{ code: number; codeName: string; details: string }> {
  try {
    await call;
  } catch (error) {
    const { code, details } = error as { code?: number; details?: string };
    if (typeof code !== "number") throw error;
    return { code, codeName: grpcStatus[code] ?? String(code), details: details ?? "" };
  }
  throw new Error("expected the call to fail, but it succeeded");
}
