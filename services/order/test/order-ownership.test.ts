/**
 * Who may see an order, at the order service: a call that carries a principal (the gateway's PRINCIPAL_HEADERS) acts
 * for a customer, who places, reads, watches, lists and cancels only their own orders; the admin scope, or no principal
 * at all (the mesh's own calls, operators), reaches every order. Real service in-process over gRPC, fake inventory.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderService as OrderServiceV2, OrderStatus as OrderStatusV2 } from "#gen/shop/order/v2/order_service_pb.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { ADMIN_SCOPE, PRINCIPAL_HEADERS } from "#shared/security/principal.js";
import { capturingLogger } from "../../shared/test/fixtures/capturing-logger.js";
import { FakeInventory, grpcError, MemoryBus, startTestOrderService, type TestOrderService } from "./helpers.js";

const espresso = (customerId: string) => ({ customerId, lines: [{ productId: "sku-espresso", quantity: 1 }], cardToken: "tok_visa" });
const espressoV2 = (customerId: string) => ({
  customerId,
  items: [{ productId: "sku-espresso", quantity: 1 }],
  payment: { cardToken: "tok_visa" },
});
const as = (subject: string, scopes = "orders:write") => ({
  metadata: { [PRINCIPAL_HEADERS.subject]: subject, [PRINCIPAL_HEADERS.scopes]: scopes },
});
const alice = as("alice");
const bob = as("bob");
const admin = as("ops-1", `orders:write ${ADMIN_SCOPE}`);

let inventory: FakeInventory;
let service: TestOrderService;
let log: ReturnType<typeof capturingLogger>;
let v1: ServiceClient<typeof OrderService>;
let v2: ServiceClient<typeof OrderServiceV2>;
let aliceOrder: string;

/** denials are the "permission denied" log lines so far. */
const denials = () => log.lines.filter((line) => line["msg"] === "permission denied");

async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const message of stream) seen.push(message);
  return seen;
}

beforeAll(async () => {
  inventory = new FakeInventory();
  await inventory.start();
});

afterAll(() => inventory.stop());

beforeEach(async () => {
  log = capturingLogger();
  service = await startTestOrderService({ INVENTORY_ADDR: inventory.address }, { bus: new MemoryBus(), logger: log.logger });
  v1 = createClient(OrderService, service.address, { defaultTimeoutMs: 10_000 });
  v2 = createClient(OrderServiceV2, service.address, { defaultTimeoutMs: 10_000 });
  aliceOrder = (await v1.createOrder(espresso("alice"), alice)).order!.orderId;
});

afterEach(async () => {
  v1.close();
  v2.close();
  await service.dispose();
});

describe("a customer reaches only their own orders", () => {
  it("when bob gets, watches or cancels alice's order (v1 and v2), then each is PERMISSION_DENIED and logged once", async () => {
    const attempts = [
      grpcError(v1.getOrder({ orderId: aliceOrder }, bob)),
      grpcError(v2.getOrder({ orderId: aliceOrder }, bob)),
      grpcError(drain(v1.watchOrder({ orderId: aliceOrder }, bob))),
      grpcError(drain(v2.watchOrder({ orderId: aliceOrder }, bob))),
      grpcError(v1.cancelOrder({ orderId: aliceOrder }, bob)),
      grpcError(v2.cancelOrder({ orderId: aliceOrder }, bob)),
    ];

    for (const error of await Promise.all(attempts)) {
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.details).toContain(`order "${aliceOrder}"`);
    }
    const after = (await v2.getOrder({ orderId: aliceOrder })).order;
    expect(after?.state?.status).toBe(OrderStatusV2.AWAITING_PAYMENT); // the cancels changed nothing
    const methods = denials().map((line) => {
      expect(line).toMatchObject({ subject: "bob", orderId: aliceOrder });
      return line["method"];
    });
    expect(methods.sort()).toEqual(
      ["v1", "v2"].flatMap((v) => ["CancelOrder", "GetOrder", "WatchOrder"].map((m) => `shop.order.${v}.OrderService/${m}`)).sort(),
    );
  });

  it("when alice gets, watches and cancels her own order, then each succeeds", async () => {
    const got = await v2.getOrder({ orderId: aliceOrder }, alice);
    const cancelled = await v1.cancelOrder({ orderId: aliceOrder, reason: "changed my mind" }, alice);
    const watched = await drain(v2.watchOrder({ orderId: aliceOrder }, alice));

    expect(got.order?.customerId).toBe("alice");
    expect(cancelled.order?.cancelReason).toBe("changed my mind");
    expect(watched.at(-1)?.order?.state?.status).toBe(OrderStatusV2.CANCELLED);
    expect(denials()).toEqual([]);
  });

  it("when a customer asks for an order that does not exist, then PERMISSION_DENIED, like another's (ids cannot be probed)", async () => {
    const missing = crypto.randomUUID();

    const asCustomer = await grpcError(v2.getOrder({ orderId: missing }, bob));
    const asAdmin = await grpcError(v2.getOrder({ orderId: missing }, admin));
    const withoutPrincipal = await grpcError(v2.getOrder({ orderId: missing }));

    expect(asCustomer.code).toBe(status.PERMISSION_DENIED);
    expect(asAdmin.code).toBe(status.NOT_FOUND);
    expect(withoutPrincipal.code).toBe(status.NOT_FOUND);
    expect(denials()).toEqual([expect.objectContaining({ subject: "bob", orderId: missing })]);
  });

  it("when bob lists, then he sees only his orders; naming alice is PERMISSION_DENIED naming customer_id", async () => {
    await v2.createOrder(espressoV2("bob"), bob);

    const own = await v2.listOrders({}, bob);
    const named = await v1.listOrders({ customerId: "bob" }, bob);
    const other = await grpcError(v1.listOrders({ customerId: "alice" }, bob));

    expect(own.orders.map((o) => o.customerId)).toEqual(["bob"]);
    expect(named.orders.map((o) => o.customerId)).toEqual(["bob"]);
    expect(other.code).toBe(status.PERMISSION_DENIED);
    expect(other.details).toMatch(/^customer_id: /);
    expect(denials()).toEqual([
      expect.objectContaining({ method: "shop.order.v1.OrderService/ListOrders", subject: "bob", customerId: "alice" }),
    ]);
  });

  it("when bob places an order for alice, then PERMISSION_DENIED naming customer_id, logged, and nothing is stored", async () => {
    const error = await grpcError(v1.createOrder(espresso("alice"), bob));

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(/^customer_id: /);
    expect((await v1.listOrders({ customerId: "alice" })).orders).toHaveLength(1);
    expect(denials()).toEqual([
      expect.objectContaining({ method: "shop.order.v1.OrderService/CreateOrder", subject: "bob", customerId: "alice" }),
    ]);
  });

  it("when a customer leaves customer_id blank, then INVALID_ARGUMENT: the field stays required, the token does not fill it", async () => {
    const viaV1 = await grpcError(v1.createOrder(espresso(""), bob));
    const viaV2 = await grpcError(v2.createOrder(espressoV2(""), bob));

    for (const error of [viaV1, viaV2]) expect(error).toEqual({ code: status.INVALID_ARGUMENT, details: "customer_id: is required" });
    expect(denials()).toEqual([]);
  });
});

describe("the admin scope and calls without a principal reach every order", () => {
  it("when an admin gets, lists and cancels alice's order and places one for her, then each succeeds", async () => {
    const got = await v2.getOrder({ orderId: aliceOrder }, admin);
    const listed = await v2.listOrders({ customerId: "alice" }, admin);
    const placed = await v1.createOrder(espresso("alice"), admin);
    const cancelled = await v2.cancelOrder({ orderId: aliceOrder }, admin);

    expect(got.order?.customerId).toBe("alice");
    expect(listed.orders).toHaveLength(1);
    expect(placed.order?.customerId).toBe("alice");
    expect(cancelled.order?.state?.status).toBe(OrderStatusV2.CANCELLED);
    expect(denials()).toEqual([]);
  });

  it("when a call carries no principal, then it reads and lists every customer's orders, as before", async () => {
    const got = await v1.getOrder({ orderId: aliceOrder });
    const listed = await v1.listOrders({});

    expect(got.order?.customerId).toBe("alice");
    expect(listed.orders.map((o) => o.orderId)).toContain(aliceOrder);
  });
});
