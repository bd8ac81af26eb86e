import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

// The Connect routes forward every stream kind through the gateway to the real services, over each protocol a
// client may speak: Connect (JSON and binary, HTTP/1.1 and HTTP/2), gRPC (HTTP/2) and gRPC-Web (HTTP/1.1).

let gm: GatewayMesh;
let token: string;

beforeAll(async () => {
  gm = await startGatewayMesh();
  token = await gm.token();
});

afterAll(async () => {
  await gm?.stop();
});

function uniqueId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** streamOf turns messages into the AsyncIterable a Connect client takes for a client or bidi stream. */
async function* streamOf<T>(...messages: T[]): AsyncIterable<T> {
  yield* messages;
}

async function importProduct(client: Client<typeof InventoryService>, available: number): Promise<string> {
  const productId = uniqueId("sku-gw");
  const summary = await client.importStock(
    streamOf({ productId, quantity: available, name: `Gateway ${productId}`, price: { currencyCode: "EUR", amountMinor: 500n } }),
    { headers: { authorization: `Bearer ${token}` } },
  );
  expect(summary.createdCount).toBe(1);
  return productId;
}

const transports: Record<string, () => Transport> = {
  "Connect JSON over HTTP/2": () => createConnectTransport({ baseUrl: gm.baseUrl, httpVersion: "2", useBinaryFormat: false }),
  "Connect binary over HTTP/2": () => createConnectTransport({ baseUrl: gm.baseUrl, httpVersion: "2", useBinaryFormat: true }),
  "Connect JSON over HTTP/1.1": () => createConnectTransport({ baseUrl: gm.baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  "gRPC over HTTP/2": () => createGrpcTransport({ baseUrl: gm.baseUrl }),
  "gRPC-Web over HTTP/1.1": () => createGrpcWebTransport({ baseUrl: gm.baseUrl, httpVersion: "1.1" }),
};

describe.each(Object.entries(transports))("through the gateway with %s", (_name, makeTransport) => {
  it("when a product is imported (client stream) and read back (unary), then the backend's answer arrives", async () => {
    const inventory = createClient(InventoryService, makeTransport());

    const productId = await importProduct(inventory, 7);
    const { product } = await inventory.getProduct({ productId });

    expect(product?.productId).toBe(productId);
    expect(product?.stock?.availableQuantity).toBe(7);
  });

  it("when stock is watched (server stream), then the current level streams through", async () => {
    const inventory = createClient(InventoryService, makeTransport());
    const productId = await importProduct(inventory, 3);
    const abort = new AbortController();

    const seen: number[] = [];
    for await (const update of inventory.watchStock({ productIds: [productId] }, { signal: abort.signal })) {
      seen.push(update.stock?.availableQuantity ?? -1);
      if (seen.length === 1) break;
    }
    abort.abort();

    expect(seen).toEqual([3]);
  });

  it("when a product does not exist, then the backend's NOT_FOUND arrives with its message and a trace-id", async () => {
    const inventory = createClient(InventoryService, makeTransport());

    const error = await inventory.getProduct({ productId: "sku-missing-gw" }).catch((e: unknown) => ConnectError.from(e));

    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect((error as ConnectError).rawMessage).toContain("sku-missing-gw");
    expect((error as ConnectError).metadata.get("trace-id")).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe.each([
  ["Connect over HTTP/2", () => createConnectTransport({ baseUrl: gm.baseUrl, httpVersion: "2" })],
  ["gRPC over HTTP/2", () => createGrpcTransport({ baseUrl: gm.baseUrl })],
])("bidi streaming with %s", (_name, makeTransport) => {
  it("when a client opens ReserveStock through the gateway, then the stream reaches inventory, which refuses the gateway: reservations belong to the order service", async () => {
    const inventory = createClient(InventoryService, makeTransport());
    const productId = await importProduct(inventory, 5);
    const reservationId = crypto.randomUUID();

    const error = await (async () => {
      for await (const _ of inventory.reserveStock(
        streamOf({
          reservationId,
          orderId: reservationId,
          lines: [{ productId, quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: 500n } }],
        }),
        { headers: { authorization: `Bearer ${token}` } },
      )) {
        // no answer may come: the policy refuses the call before its handler
      }
    })().catch((e: unknown) => ConnectError.from(e));

    expect((error as ConnectError).code).toBe(Code.PermissionDenied);
    expect((error as ConnectError).rawMessage).toContain(
      "spiffe://shopmesh.local/service/gateway may not call shop.inventory.v1.InventoryService/ReserveStock",
    );
    const { product } = await inventory.getProduct({ productId });
    expect(product?.stock?.availableQuantity).toBe(5);
  });
});

describe("deadlines and metadata", () => {
  it("when the caller sets a deadline, then the backend call carries it and an expired one answers DEADLINE_EXCEEDED", async () => {
    const inventory = createClient(InventoryService, createGrpcTransport({ baseUrl: gm.baseUrl }));
    const productId = await importProduct(inventory, 1);

    const error = await (async () => {
      for await (const _ of inventory.watchStock({ productIds: [productId] }, { timeoutMs: 300 })) {
        // WatchStock never ends by itself: only the deadline stops it.
      }
    })().catch((e: unknown) => ConnectError.from(e));

    expect((error as ConnectError).code).toBe(Code.DeadlineExceeded);
  });

  it("when an order is created with an idempotency key twice, then the key reached the backend (same order back)", async () => {
    const transport = createConnectTransport({ baseUrl: gm.baseUrl, httpVersion: "2" });
    const inventory = createClient(InventoryService, transport);
    const orders = createClient(OrderService, transport);
    const productId = await importProduct(inventory, 4);
    const headers = { authorization: `Bearer ${token}`, "idempotency-key": crypto.randomUUID() };
    const request = { customerId: uniqueId("cust"), cardToken: "tok_visa", lines: [{ productId, quantity: 1 }] };

    const first = await orders.createOrder(request, { headers });
    const second = await orders.createOrder(request, { headers });

    expect(first.order?.orderId).toBeTruthy();
    expect(second.order?.orderId).toBe(first.order?.orderId);
  });
});
