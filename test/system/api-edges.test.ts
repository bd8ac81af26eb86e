/**
 * System tests at the API's edges, through the real processes: bad input of every kind answers INVALID_ARGUMENT
 * naming the field and writes nothing, and a stock grpcurl (server reflection, no proto files) drives an order
 * end to end.
 */
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { Topics } from "#shared/events/topics.js";
import { decodeRecorded } from "./event-log.js";
import { availableOf, createOrder, createProduct, grpcError, grpcurlAs, orderOf, uniqueId, type CreateOrderInit } from "./fixtures.js";
import { Mesh } from "./mesh.js";
import { OPERATOR } from "../../scripts/mesh/mesh.js";

let mesh: Mesh;
let productId: string;
/** badCustomers are the customer ids of every rejected request, to prove none of them got an OrderCreated. */
const badCustomers: string[] = [];

beforeAll(async () => {
  mesh = await Mesh.start();
  productId = await createProduct(mesh, 50);
});

afterAll(async () => {
  await mesh?.stop();
});

/** rawUnary sends bytes as they are to a method, bypassing any protobuf encoding on the client. */
function rawUnary(address: string, method: string, bytes: Buffer): Promise<ServiceError | Buffer> {
  const client = new Client(address, mesh.credentials("order") ?? credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method,
      (value: Buffer) => value,
      (value: Buffer) => value,
      bytes,
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (error, response) => {
        client.close();
        resolve(error ?? response ?? Buffer.alloc(0));
      },
    );
  });
}

describe("bad input through the real processes", () => {
  const cases: { name: string; request: (customerId: string) => CreateOrderInit; field: string }[] = [
    {
      name: "a negative quantity",
      request: (c) => ({ ...orderOf("", 1), customerId: c, lines: [{ productId, quantity: -1 }] }),
      field: "lines[0].quantity",
    },
    {
      name: "a zero quantity",
      request: (c) => ({ ...orderOf("", 1), customerId: c, lines: [{ productId, quantity: 0 }] }),
      field: "lines[0].quantity",
    },
    {
      name: "an unknown product",
      request: (c) => ({ ...orderOf(uniqueId("sku-missing"), 1), customerId: c }),
      field: "lines[0].product_id",
    },
    { name: "no customer id", request: () => ({ ...orderOf(productId, 1), customerId: "" }), field: "customer_id" },
    { name: "no lines", request: (c) => ({ customerId: c, cardToken: "tok_visa", lines: [] }), field: "lines" },
    { name: "no card token", request: (c) => ({ ...orderOf(productId, 1), customerId: c, cardToken: "" }), field: "card_token" },
    { name: "a line without a product id", request: (c) => ({ ...orderOf("", 1), customerId: c }), field: "lines[0].product_id" },
  ];

  for (const { name, request, field } of cases) {
    it(`when CreateOrder gets ${name}, then it is INVALID_ARGUMENT naming ${field} and nothing is written`, async () => {
      // Arrange
      const customerId = uniqueId("cust-bad");
      const before = await availableOf(mesh, productId);
      const sent = request(customerId);
      badCustomers.push(sent.customerId ?? "");

      // Act
      const error = await grpcError(createOrder(mesh, sent));

      // Assert
      expect(error.codeName).toBe("INVALID_ARGUMENT");
      expect(error.details).toContain(field);
      expect((await mesh.order.listOrders({ customerId })).orders).toEqual([]);
      expect(await availableOf(mesh, productId)).toBe(before);
    });
  }

  it("when CreateOrder gets bytes that are not protobuf, then it is INVALID_ARGUMENT, not INTERNAL", async () => {
    // Arrange: field 1 (customer_id), length-delimited, with a length that runs past the end.
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0x01, 0x41]);

    // Act
    const result = await rawUnary(mesh.address("order"), "/shop.order.v1.OrderService/CreateOrder", garbage);

    // Assert
    expect(result).toBeInstanceOf(Error);
    const error = result as ServiceError;
    expect(error.code).toBe(3); // INVALID_ARGUMENT
    expect(error.details).toMatch(/request/i);
  });

  it("when CreateOrder gets an oversized message, then it is INVALID_ARGUMENT and nothing is written", async () => {
    // Arrange: 2 MiB of customer id, above the 1 MiB request limit and below grpc-js's own 4 MiB cap.
    const customerId = "c".repeat(2 * 1024 * 1024);
    const before = await availableOf(mesh, productId);

    // Act
    const error = await grpcError(createOrder(mesh, { ...orderOf(productId, 1), customerId }));

    // Assert
    expect(error.codeName).toBe("INVALID_ARGUMENT");
    expect(error.details).toMatch(/exceeds|too large|limit/i);
    expect(await availableOf(mesh, productId)).toBe(before);
  });

  it("when every bad request is done, then no OrderCreated was published for any of them", async () => {
    // Arrange: a good order after the bad ones; the relay publishes oldest first.
    const good = await createOrder(mesh, orderOf(productId, 1));

    // Act
    await mesh.events.waitForTypes(good.orderId, [OrderCreatedSchema.typeName]);
    const created = (await mesh.events.read(Topics.orderEvents)).filter((e) => e.type === OrderCreatedSchema.typeName);

    // Assert
    const customers = created.map((e) => decodeRecorded(OrderCreatedSchema, e).customerId);
    expect(customers).toContain(good.customerId);
    expect(customers.filter((c) => badCustomers.includes(c))).toEqual([]);
  });
});

describe("grpcurl against the real order service", () => {
  it("when grpcurl creates an order and watches it, then it prints ORDER_STATUS_CONFIRMED", async () => {
    // Arrange
    const address = mesh.address("order");
    const body = JSON.stringify({ customerId: uniqueId("cust-grpcurl"), cardToken: "tok_visa", lines: [{ productId, quantity: 1 }] });

    // Act: as the mesh's admin operator, with its certificate (README "Calling the services with grpcurl").
    const created = await grpcurlAs(
      mesh,
      OPERATOR.name,
      ["-H", `idempotency-key: ${crypto.randomUUID()}`, "-d", body, address, "shop.order.v1.OrderService/CreateOrder"],
      20_000,
    );
    const orderId = (JSON.parse(created) as { order: { orderId: string } }).order.orderId;
    const watched = await grpcurlAs(
      mesh,
      OPERATOR.name,
      ["-max-time", "30", "-d", JSON.stringify({ orderId }), address, "shop.order.v1.OrderService/WatchOrder"],
      40_000,
    );

    // Assert
    expect(JSON.parse(created)).toMatchObject({ order: { status: "ORDER_STATUS_AWAITING_PAYMENT" } });
    expect(watched).toContain("ORDER_STATUS_CONFIRMED");
  });
});
