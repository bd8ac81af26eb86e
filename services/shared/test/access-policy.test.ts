import { Code, ConnectError } from "@connectrpc/connect";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Health } from "#gen/grpc/health/v1/health_pb.js";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { OpsService } from "#gen/shop/ops/v1/ops_service_pb.js";
import { OrderService as OrderServiceV1 } from "#gen/shop/order/v1/order_service_pb.js";
import { OrderService as OrderServiceV2 } from "#gen/shop/order/v2/order_service_pb.js";
import { PaymentService } from "#gen/shop/payment/v1/payment_service_pb.js";
import { accessControl, type AdmittableCall } from "#shared/security/access-control.js";
import { AccessPolicy, AccessPolicyError } from "#shared/security/access-policy.js";
import { operatorId, serviceId } from "#shared/security/identity.js";

const policy = AccessPolicy.load("policy/access.yaml");
const order = serviceId("order");
const gateway = serviceId("gateway");
const payment = serviceId("payment");
const reader = operatorId("alice", "reader");
const admin = operatorId("bob", "admin");

describe("the mesh's access policy (policy/access.yaml)", () => {
  it("when a service serves a method, then the policy grants it to someone (no method is denied by omission)", () => {
    const served = [OrderServiceV1, OrderServiceV2, PaymentService, InventoryService, NotificationService, OpsService, Health];

    expect(policy.ungranted(served)).toEqual([]);
  });

  it("when anyone but the order service reserves stock, then it is denied: operators, admins and the gateway included", () => {
    const method = "shop.inventory.v1.InventoryService/ReserveStock";

    expect(policy.allows(method, order)).toBe(true);
    for (const other of [gateway, payment, reader, admin, serviceId("inventory")]) expect(policy.allows(method, other)).toBe(false);
  });

  it("when order writes come from the gateway or an admin, then they are allowed; from a reader or another service, denied", () => {
    const method = "shop.order.v2.OrderService/CreateOrder";

    expect([gateway, admin].map((id) => policy.allows(method, id))).toEqual([true, true]);
    expect([reader, payment, order].map((id) => policy.allows(method, id))).toEqual([false, false, false]);
  });

  it("when RefundPayment is called, then only order, the gateway and admins may", () => {
    const method = "shop.payment.v1.PaymentService/RefundPayment";

    expect([order, gateway, admin, reader, serviceId("inventory")].map((id) => policy.allows(method, id))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it("when notifications are read, then the gateway and operators may; order, which only sends commands, may not", () => {
    for (const method of ["GetNotification", "ListNotifications", "WatchNotifications"].map(
      (m) => `shop.notification.v1.NotificationService/${m}`,
    )) {
      expect([gateway, reader, admin].map((id) => policy.allows(method, id))).toEqual([true, true, true]);
      expect([order, payment, serviceId("inventory"), serviceId("notification")].map((id) => policy.allows(method, id))).toEqual([
        false,
        false,
        false,
        false,
      ]);
    }
  });

  it("when health or reflection is called with any mesh identity, then it is allowed; with no identity, denied", () => {
    for (const id of [order, reader, serviceId("inventory")]) {
      expect(policy.allows("grpc.health.v1.Health/Check", id)).toBe(true);
      expect(policy.allows("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", id)).toBe(true);
    }
    expect(policy.allows("grpc.health.v1.Health/Check", undefined)).toBe(false);
  });

  it("when a method is not in the policy, then nobody may call it", () => {
    expect(policy.allows("shop.order.v3.OrderService/GetOrder", admin)).toBe(false);
  });

  it("when an operator pattern is matched, then only identities under it match, not the pattern's parent", () => {
    const method = "shop.order.v1.OrderService/GetOrder";

    expect(policy.allows(method, "spiffe://shopmesh.local/operator/reader/")).toBe(false);
    expect(policy.allows(method, "spiffe://shopmesh.local/operator/readers/alice")).toBe(false);
    expect(policy.allows(method, reader)).toBe(true);
  });
});

describe("AccessPolicy.parse", () => {
  const valid = `version: 1
identities: { order: "spiffe://shopmesh.local/service/order" }
grants: { "shop.x.v1.X/Get": [order] }
`;

  it("when the document is valid, then it parses", () => {
    expect(AccessPolicy.parse(valid).allows("shop.x.v1.X/Get", order)).toBe(true);
  });

  it.each([
    ["not YAML", "version: [1", "not valid YAML"],
    ["a wrong version", valid.replace("version: 1", "version: 2"), "version must be 1"],
    [
      "an identity outside the trust domain",
      valid.replace("shopmesh.local/service/order", "evil.local/x"),
      'identity "order" must be a SPIFFE ID',
    ],
    ["a grant naming an unknown identity", valid.replace("[order]", "[ordr]"), 'names "ordr", which is not under identities'],
    ["a grant with no callers", valid.replace("[order]", "[]"), "must list at least one caller"],
    ["a malformed method", valid.replace("shop.x.v1.X/Get", "X.Get"), "must name package.Service/Method"],
    [
      "a method covered twice",
      valid.replace('"shop.x.v1.X/Get": [order]', '"shop.x.v1.X/Get": [order], "shop.x.v1.X/*": [order]'),
      'also covered by "shop.x.v1.X/*"',
    ],
  ])("when the document has %s, then loading fails naming it", (_case, text, message) => {
    expect(() => AccessPolicy.parse(text, "test.yaml")).toThrow(AccessPolicyError);
    expect(() => AccessPolicy.parse(text, "test.yaml")).toThrow(message);
  });
});

/** callFrom is a server call as grpc-js shows it: the peer certificate's SANs and the request metadata. */
function callFrom(identity: string | undefined, headers: Record<string, string | string[]> = {}): AdmittableCall {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) for (const v of [value].flat()) metadata.add(key, v);
  const sslPeerCertificate =
    identity === undefined ? undefined : ({ subjectaltname: `URI:${identity}, DNS:localhost, IP Address:127.0.0.1` } as never);
  return { metadata, getAuthContext: () => ({ sslPeerCertificate }) };
}

describe("accessControl (the kit's admission of each call)", () => {
  const enforced = accessControl(policy);
  const getOrder = "shop.order.v1.OrderService/GetOrder";

  it("when the caller's identity is granted, then the call is admitted with that identity and no principal", () => {
    expect(enforced.admit(callFrom(reader), getOrder)).toEqual({ caller: { identity: reader }, principal: undefined });
  });

  it("when the caller is not granted, then PERMISSION_DENIED names the method and the caller's identity", () => {
    const result = enforced.admit(callFrom(payment), "shop.inventory.v1.InventoryService/ReserveStock");

    expect(result).toBeInstanceOf(ConnectError);
    expect((result as ConnectError).code).toBe(Code.PermissionDenied);
    expect((result as ConnectError).rawMessage).toBe(
      `${payment} may not call shop.inventory.v1.InventoryService/ReserveStock (policy/access.yaml)`,
    );
  });

  it("when the gateway asserts a principal, then the call carries it", () => {
    const call = callFrom(gateway, { "x-shop-subject": "cust-1", "x-shop-scopes": "orders:write admin" });

    expect(enforced.admit(call, getOrder)).toEqual({
      caller: { identity: gateway },
      principal: { subject: "cust-1", scopes: ["orders:write", "admin"] },
    });
  });

  it("when a peer other than the gateway sends a principal header, then it is denied, naming the peer", () => {
    const result = enforced.admit(callFrom(admin, { "x-shop-subject": "cust-1" }), getOrder);

    expect((result as ConnectError).code).toBe(Code.PermissionDenied);
    expect((result as ConnectError).rawMessage).toContain(`${admin} may not assert an end user`);
  });

  it.each([
    ["an empty subject", { "x-shop-subject": "" }],
    ["scopes without a subject", { "x-shop-scopes": "admin" }],
    ["two subjects", { "x-shop-subject": ["a", "b"] }],
    ["a subject too long", { "x-shop-subject": "x".repeat(257) }],
  ])("when the principal is malformed (%s), then it is denied rather than guessed", (_case, headers) => {
    const result = enforced.admit(callFrom(gateway, headers), getOrder);

    expect((result as ConnectError).code).toBe(Code.PermissionDenied);
  });

  it("when there is no policy (MESH_INSECURE=1), then every call is admitted and the principal is taken as sent", () => {
    const open = accessControl(undefined);

    expect(open.enforced).toBe(false);
    expect(open.admit(callFrom(undefined, { "x-shop-subject": "cust-1" }), getOrder)).toEqual({
      caller: { identity: undefined },
      principal: { subject: "cust-1", scopes: [] },
    });
  });
});
