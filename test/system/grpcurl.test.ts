/**
 * The real grpcurl binary against each real service process, with no proto files: everything it knows comes from
 * server reflection. This is how users explore and call the mesh (see README "Call a service with grpcurl"): over
 * mTLS, with an operator certificate from `npm run certs -- client <name> --role reader|admin` and nothing but
 * `-cacert/-cert/-key` (the services' certificates carry DNS:localhost and IP:127.0.0.1, so grpcurl verifies them).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorFiles } from "#shared/security/pki-layout.js";
import { issueOperator } from "#shared/security/pki.js";
import type { GrpcProcessName } from "../../scripts/mesh/mesh.js";
import { Mesh } from "./mesh.js";
import { grpcurlAs as grpcurlOf, runGrpcurl } from "./fixtures.js";

/** grpcurlAs calls grpcurl with the operator certificate `operator` of the mesh's PKI. */
const grpcurlAs = (operator: string, ...args: string[]) => grpcurlOf(mesh, operator, ["-max-time", "20", ...args]);

/** grpcurl calls as a reader operator: reads, reflection and health. */
const grpcurl = (...args: string[]) => grpcurlAs(READER, ...args);
const READER = "grpcurl-reader";
const ADMIN = "grpcurl-admin";

let mesh: Mesh;

beforeAll(async () => {
  mesh = await Mesh.start();
  await issueOperator(mesh.pkiDir ?? "", READER, "reader");
  await issueOperator(mesh.pkiDir ?? "", ADMIN, "admin");
});

afterAll(async () => {
  await mesh?.stop();
});

type GrpcurlCall = Promise<string>;

const services: { name: GrpcProcessName; service: string; method: string; request: object; check(call: GrpcurlCall): Promise<void> }[] = [
  {
    name: "inventory",
    service: "shop.inventory.v1.InventoryService",
    method: "GetProduct",
    request: { productId: "sku-espresso" },
    async check(call) {
      const { product } = JSON.parse(await call) as { product: { productId: string; price: { currencyCode: string } } };
      expect(product).toMatchObject({ productId: "sku-espresso", price: { currencyCode: "EUR" } });
    },
  },
  {
    name: "order",
    service: "shop.order.v1.OrderService",
    method: "GetOrder",
    request: { orderId: "00000000-0000-4000-8000-000000000000" },
    async check(call) {
      // grpcurl exits non-zero and prints the status it got.
      await expect(call).rejects.toMatchObject({ stderr: expect.stringMatching(/Code: NotFound/) });
    },
  },
  {
    name: "payment",
    service: "shop.payment.v1.PaymentService",
    method: "GetPayment",
    request: { paymentId: "not-a-uuid" },
    async check(call) {
      await expect(call).rejects.toMatchObject({ stderr: expect.stringMatching(/Code: InvalidArgument[\s\S]*payment_id/) });
    },
  },
  {
    name: "notification",
    service: "shop.notification.v1.NotificationService",
    method: "ListNotifications",
    request: { orderId: "42" },
    async check(call) {
      await expect(call).rejects.toMatchObject({ stderr: expect.stringMatching(/Code: InvalidArgument[\s\S]*order_id: must be a UUID/) });
    },
  },
];

describe.each(services)("grpcurl against the $name service", ({ name, service, method, request, check }) => {
  it("when it lists services, then reflection names the service and grpc.health.v1.Health", async () => {
    const listed = await grpcurl(mesh.address(name), "list");
    expect(listed.split("\n")).toEqual(expect.arrayContaining([service, "grpc.health.v1.Health"]));
  });

  it("when it describes the service, then every RPC of the contract is shown with its stream kind", async () => {
    const described = await grpcurl(mesh.address(name), "describe", service);
    expect(described).toContain(`${service} is a service:`);
    expect(described).toMatch(/rpc \w+ \(/);
    if (name === "notification") {
      expect(described).toContain("rpc WatchNotifications ( .shop.notification.v1.WatchNotificationsRequest ) returns ( stream");
    }
    if (name === "inventory") {
      expect(described).toContain("rpc ReserveStock ( stream .shop.inventory.v1.ReserveStockRequest ) returns ( stream");
      expect(described).toContain("rpc ImportStock ( stream .shop.inventory.v1.ImportStockRequest ) returns ( .shop");
      expect(described).toContain("rpc WatchStock ( .shop.inventory.v1.WatchStockRequest ) returns ( stream");
    }
  });

  it("when it checks health, then the service is SERVING", async () => {
    const health = await grpcurl("-d", JSON.stringify({ service }), mesh.address(name), "grpc.health.v1.Health/Check");
    expect(JSON.parse(health)).toEqual({ status: "SERVING" });
  });

  it(`when it calls ${method}, then it gets the answer the contract promises`, async () => {
    await check(grpcurl("-d", JSON.stringify(request), mesh.address(name), `${service}/${method}`));
  });
});

describe("grpcurl with operator certificates: what each role may do", () => {
  const order = { customerId: "c-grpcurl", cardToken: "tok_visa", lines: [{ productId: "sku-espresso", quantity: 1 }] };

  it("when a reader creates an order, then PERMISSION_DENIED names CreateOrder and the reader's identity", async () => {
    const call = grpcurl(
      "-H",
      "idempotency-key: grpcurl-reader-1",
      "-d",
      JSON.stringify(order),
      mesh.address("order"),
      "shop.order.v1.OrderService/CreateOrder",
    );

    await expect(call).rejects.toMatchObject({
      stderr: expect.stringMatching(
        /Code: PermissionDenied[\s\S]*operator\/reader\/grpcurl-reader may not call shop\.order\.v1\.OrderService\/CreateOrder/,
      ),
    });
  });

  it("when an admin creates an order, then it is created", async () => {
    const created = await grpcurlAs(
      ADMIN,
      "-H",
      "idempotency-key: grpcurl-admin-1",
      "-d",
      JSON.stringify(order),
      mesh.address("order"),
      "shop.order.v1.OrderService/CreateOrder",
    );

    expect(JSON.parse(created)).toMatchObject({ order: { customerId: "c-grpcurl" } });
  });

  it("when an admin calls ReserveStock, then it is denied: that method belongs to the order service alone", async () => {
    const request = { reservationId: "00000000-0000-4000-8000-000000000001", lines: [{ productId: "sku-espresso", quantity: 1 }] };
    const call = grpcurlAs(
      ADMIN,
      "-d",
      JSON.stringify(request),
      mesh.address("inventory"),
      "shop.inventory.v1.InventoryService/ReserveStock",
    );

    await expect(call).rejects.toMatchObject({ stderr: expect.stringMatching(/Code: PermissionDenied[\s\S]*ReserveStock/) });
  });

  it("when grpcurl has no client certificate, then it cannot connect and the service logs the refused handshake", async () => {
    const pki = mesh.pkiDir ?? "";
    const call = runGrpcurl(["-cacert", operatorFiles(pki, READER).ca, "-connect-timeout", "3", mesh.address("inventory"), "list"], 20_000);

    // grpcurl only says it could not dial; the reason is on the server's side.
    await expect(call).rejects.toMatchObject({ stderr: expect.stringMatching(/Failed to dial target host/) });
    expect(mesh.logs("inventory", 400)).toMatch(/TLS handshake rejected from 127\.0\.0\.1:\d+: no client certificate/);
  });
});
