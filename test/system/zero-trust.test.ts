/**
 * Zero trust over the real processes: every service serves mTLS with its SPIFFE certificate, the kit enforces
 * policy/access.yaml before any handler, and only the gateway may assert an end user. Each refusal must also be in
 * the refusing service's log, naming who was refused and why.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials as grpcCredentials, status, type ChannelCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { createClient } from "#shared/grpc/client.js";
import { MeshCertificates } from "#shared/security/certificates.js";
import { operatorId, serviceId, type MeshServiceName } from "#shared/security/identity.js";
import { operatorFiles, serviceFiles, type PkiFiles } from "#shared/security/pki-layout.js";
import { ensureMeshPki, issueOperator, rotate } from "#shared/security/pki.js";
import { channelCredentials } from "#shared/security/tls.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { Mesh, type ServiceName } from "./mesh.js";

let mesh: Mesh;
let pki: string;
let foreignPki: string;
const opened: MeshCertificates[] = [];
const quiet = { info: () => undefined, warn: () => undefined };

beforeAll(async () => {
  // A short refresh, so the rotation test sees the services pick up new certificates within a second or two.
  mesh = await Mesh.start({ env: { inventory: { PKI_REFRESH_MS: "200" } } });
  pki = mesh.pkiDir ?? "";
  foreignPki = mkdtempSync(path.join(tmpdir(), "foreign-pki-"));
  await ensureMeshPki(foreignPki);
}, 120_000);

afterAll(async () => {
  for (const certs of opened) certs.close();
  await mesh?.stop();
  rmSync(foreignPki, { recursive: true, force: true });
});

/** as loads a certificate pair and makes credentials to call `peer` with it, verifying `peer`'s identity. */
async function as(files: PkiFiles, peer: MeshServiceName): Promise<ChannelCredentials> {
  const certs = new MeshCertificates(files, { logger: quiet, refreshMs: 60_000 });
  opened.push(certs);
  await certs.ready(5_000);
  return channelCredentials(certs, serviceId(peer));
}

function inventoryWith(credentials: ChannelCredentials) {
  return createClient(InventoryService, mesh.address("inventory"), { credentials, defaultTimeoutMs: 5_000 });
}

function orderWith(credentials: ChannelCredentials) {
  return createClient(OrderService, mesh.address("order"), { credentials, defaultTimeoutMs: 5_000 });
}

/** failure runs a call that must fail and returns its gRPC code and details. */
async function failure(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  const error = (await call.then(
    () => ({ code: status.OK, details: "succeeded" }),
    (err: { code: number; details: string }) => err,
  )) as { code: number; details: string };
  return { code: error.code, details: error.details };
}

/** logged waits until a service's log has a line containing every one of `parts`. */
async function logged(service: ServiceName, ...parts: string[]): Promise<string> {
  return await waitUntil(
    () =>
      mesh
        .logs(service, 400)
        .split("\n")
        .find((line) => parts.every((part) => line.includes(part))),
    { timeoutMs: 5_000, message: `${service} to log ${parts.join(" + ")}` },
  );
}

async function reserveOnce(client: ReturnType<typeof inventoryWith>): Promise<unknown> {
  for await (const response of client.reserveStock([
    { reservationId: crypto.randomUUID(), lines: [{ productId: "sku-espresso", quantity: 1 }] },
  ])) {
    return response;
  }
  return undefined;
}

describe("mTLS between the real processes: who gets in", () => {
  it("when a client presents no certificate, then the call fails UNAVAILABLE and the service logs the refused handshake", async () => {
    const noCert = grpcCredentials.createSsl(Buffer.from(await readCa()));

    const { code } = await failure(inventoryWith(noCert).listProducts({ pageSize: 1 }));

    expect(code).toBe(status.UNAVAILABLE);
    await logged("inventory", "TLS handshake rejected", "certificate");
  });

  it("when a client's certificate comes from another CA, then it is refused and logged", async () => {
    await issueOperator(foreignPki, "mallory", "admin");

    const { code } = await failure(inventoryWith(await asForeign("mallory")).listProducts({ pageSize: 1 }));

    expect(code).toBe(status.UNAVAILABLE);
    await logged("inventory", "TLS handshake rejected", "unknown CA");
  });

  it("when a client's certificate has expired, then it is refused and logged", async () => {
    const day = 24 * 60 * 60 * 1000;
    await issueOperator(pki, "expired-ops", "admin", { notBefore: new Date(Date.now() - 2 * day), notAfter: new Date(Date.now() - day) });

    const { code } = await failure(inventoryWith(await as(operatorFiles(pki, "expired-ops"), "inventory")).listProducts({ pageSize: 1 }));

    expect(code).toBe(status.UNAVAILABLE);
    await logged("inventory", "TLS handshake rejected", "expired");
  });

  it("when a client speaks plaintext, then it is refused and logged", async () => {
    const { code } = await failure(inventoryWith(grpcCredentials.createInsecure()).listProducts({ pageSize: 1 }));

    expect(code).toBe(status.UNAVAILABLE);
    await logged("inventory", "TLS handshake rejected", "plaintext");
  });
});

describe("the access policy, enforced by the kit in every service", () => {
  it("when payment's own certificate calls ReserveStock, then PERMISSION_DENIED names the method and payment, and inventory logs both", async () => {
    const { code, details } = await failure(reserveOnce(inventoryWith(await as(serviceFiles(pki, "payment"), "inventory"))));

    expect(code).toBe(status.PERMISSION_DENIED);
    expect(details).toContain("shop.inventory.v1.InventoryService/ReserveStock");
    expect(details).toContain(serviceId("payment"));
    await logged("inventory", "rpc denied", serviceId("payment"), "ReserveStock");
  });

  it("when an admin operator calls ReserveStock, then it is denied too: stock reservations belong to the order service", async () => {
    await issueOperator(pki, "root-ops", "admin");

    const { code } = await failure(reserveOnce(inventoryWith(await as(operatorFiles(pki, "root-ops"), "inventory"))));

    expect(code).toBe(status.PERMISSION_DENIED);
    await logged("inventory", "rpc denied", operatorId("root-ops", "admin"));
  });

  it("when a reader operator reads, then it may; when it creates an order, then it is denied, and the order service logs it", async () => {
    await issueOperator(pki, "read-ops", "reader");
    const credentials = await as(operatorFiles(pki, "read-ops"), "order");

    await expect(orderWith(credentials).listOrders({ pageSize: 1 })).resolves.toBeDefined();
    const { code, details } = await failure(
      orderWith(credentials).createOrder(
        { customerId: "c-ops", cardToken: "tok_visa", lines: [{ productId: "sku-espresso", quantity: 1 }] },
        { metadata: { "idempotency-key": crypto.randomUUID() } },
      ),
    );

    expect(code).toBe(status.PERMISSION_DENIED);
    expect(details).toContain(operatorId("read-ops", "reader"));
    await logged("order", "rpc denied", "CreateOrder", operatorId("read-ops", "reader"));
  });

  it("when a peer other than the gateway sends a principal header, then the call is denied and logged", async () => {
    const { code, details } = await failure(mesh.order.listOrders({ pageSize: 1 }, { metadata: { "x-shop-subject": "someone-else" } }));

    expect(code).toBe(status.PERMISSION_DENIED);
    expect(details).toContain("only the gateway may");
    await logged("order", "rpc denied", "only the gateway may");
  });

  it("when the client expects another service's identity, then it refuses the server: the name is checked, not only the CA", async () => {
    await issueOperator(pki, "check-ops", "admin");
    const expectingPayment = await as(operatorFiles(pki, "check-ops"), "payment");

    const { code, details } = await failure(inventoryWith(expectingPayment).listProducts({ pageSize: 1 }));

    expect(code).toBe(status.UNAVAILABLE);
    expect(details).toContain(serviceId("payment"));
  });
});

describe("certificate rotation on a running service", () => {
  it("when the service certificates are rotated, then inventory presents the new one to new connections without a restart", async () => {
    await issueOperator(pki, "serial-probe", "reader");
    const before = await servedSerial();
    const pid = mesh.process("inventory").child.pid;

    await rotate(pki);

    const after = await waitUntil(
      async () => {
        const serial = await servedSerial();
        return serial !== before ? serial : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, message: "inventory to serve its rotated certificate" },
    );
    expect(after).not.toBe(before);
    expect(mesh.process("inventory").child.pid).toBe(pid);
    await expect(mesh.inventory.listProducts({ pageSize: 1 })).resolves.toBeDefined();
  });
});

async function readCa(): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  return await readFile(path.join(pki, "ca.crt"), "utf8");
}

/** asForeign calls inventory with an operator certificate of another CA, trusting our CA for the server. */
async function asForeign(name: string): Promise<ChannelCredentials> {
  const foreign = operatorFiles(foreignPki, name);
  return await as({ ...foreign, ca: path.join(pki, "ca.crt") }, "inventory");
}

/** servedSerial opens a fresh TLS connection to inventory and reads the serial number of the certificate it presents. */
async function servedSerial(): Promise<string> {
  const tls = await import("node:tls");
  const { readFileSync } = await import("node:fs");
  const files = operatorFiles(pki, "serial-probe");
  const [host, port] = mesh.address("inventory").split(":") as [string, string];
  return await new Promise<string>((resolve, reject) => {
    const socket = tls.connect(
      {
        host,
        port: Number(port),
        ca: readFileSync(files.ca),
        cert: readFileSync(files.cert),
        key: readFileSync(files.key),
        ALPNProtocols: ["h2"],
        checkServerIdentity: () => undefined,
      },
      () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(serial);
      },
    );
    socket.once("error", reject);
  });
}
