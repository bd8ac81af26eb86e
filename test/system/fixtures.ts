/**
 * Test data and small flows for system tests: each test creates its own products (through ImportStock) and uses
 * its own customer id, so tests sharing one mesh never see each other's stock or orders.
 */
import { status as grpcStatus } from "@grpc/grpc-js";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { operatorFiles } from "#shared/security/pki-layout.js";
import { ROOT } from "../../scripts/mesh/child.js";
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

/** GRPCURL is the real grpcurl binary `npm run tools` installs. */
export const GRPCURL = path.join(ROOT, ".tools", "bin", "grpcurl");

/** runGrpcurl runs grpcurl with `args` as they are; a missing binary fails the test saying how to install it. */
export async function runGrpcurl(args: readonly string[], timeoutMs = 30_000): Promise<{ stdout: string; stderr: string }> {
  if (!existsSync(GRPCURL)) {
    throw new Error(`${path.relative(ROOT, GRPCURL)} is missing: run \`npm run tools\` (needs Go) to install grpcurl`);
  }
  return promisify(execFile)(GRPCURL, [...args], { timeout: timeoutMs });
}

/**
 * grpcurlAs runs grpcurl as the operator `operator` of the mesh's PKI, with nothing but -cacert/-cert/-key, as the
 * README's recipes do (`npm run certs -- client <name>`), and returns what it printed.
 */
export async function grpcurlAs(mesh: Mesh, operator: string, args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const files = operatorFiles(mesh.pkiDir ?? "", operator);
  const { stdout } = await runGrpcurl(["-cacert", files.ca, "-cert", files.cert, "-key", files.key, ...args], timeoutMs);
  return stdout;
}
