/**
 * The real grpcurl against the gateway's one port (h2c, gRPC protocol), with no proto files: it lists, describes
 * and calls through server reflection (services/shared/src/grpc/reflection.ts, the services' own).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/mesh/child.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

const run = promisify(execFile);
const GRPCURL = path.join(ROOT, ".tools", "bin", "grpcurl");

let gm: GatewayMesh;

async function grpcurl(...args: string[]): Promise<string> {
  if (!existsSync(GRPCURL)) {
    throw new Error(`${path.relative(ROOT, GRPCURL)} is missing: run \`npm run tools\` (needs Go) to install grpcurl`);
  }
  const { stdout } = await run(GRPCURL, ["-plaintext", ...args], { timeout: 30_000 });
  return stdout;
}

function target(): string {
  return `127.0.0.1:${gm.port}`;
}

beforeAll(async () => {
  gm = await startGatewayMesh();
});

afterAll(async () => {
  await gm?.stop();
});

describe("grpcurl through the gateway", () => {
  it("when asked to list, then every public service and reflection itself are listed", async () => {
    const services = (await grpcurl(target(), "list")).trim().split("\n");

    expect(services).toEqual(
      expect.arrayContaining([
        "shop.order.v1.OrderService",
        "shop.order.v2.OrderService",
        "shop.payment.v1.PaymentService",
        "shop.inventory.v1.InventoryService",
        "grpc.reflection.v1.ServerReflection",
      ]),
    );
  });

  it("when asked to describe a service and a message, then it prints them with their options", async () => {
    const service = await grpcurl(target(), "describe", "shop.order.v1.OrderService");
    const message = await grpcurl(target(), "describe", "shop.inventory.v1.ImportStockRequest");

    expect(service).toContain("rpc CreateOrder ( .shop.order.v1.CreateOrderRequest ) returns ( .shop.order.v1.CreateOrderResponse )");
    expect(service).toContain('post: "/api/v1/orders"');
    expect(message).toContain("string product_id = 1 [(.google.api.field_behavior) = REQUIRED];");
  });

  it("when a unary RPC is called, then the backend answers through the gateway", async () => {
    const out = await grpcurl(
      "-d",
      JSON.stringify({ productId: "sku-espresso" }),
      target(),
      "shop.inventory.v1.InventoryService/GetProduct",
    );

    expect(JSON.parse(out)).toMatchObject({ product: { productId: "sku-espresso", price: { currencyCode: "EUR" } } });
  });

  it("when a unary RPC fails, then grpcurl prints the backend's code and message and the gateway's trace-id", async () => {
    const call = grpcurl("-v", "-d", JSON.stringify({ productId: "sku-none" }), target(), "shop.inventory.v1.InventoryService/GetProduct");

    await expect(call).rejects.toMatchObject({
      stdout: expect.stringMatching(/trace-id: [0-9a-f]{32}/),
      stderr: expect.stringMatching(/Code: NotFound\s+Message: product "sku-none" not found/),
    });
  });

  it("when a server stream is called, then its messages stream through until the deadline", async () => {
    const call = grpcurl(
      "-max-time",
      "2",
      "-d",
      JSON.stringify({ productIds: ["sku-espresso"] }),
      target(),
      "shop.inventory.v1.InventoryService/WatchStock",
    );

    // WatchStock never ends by itself: grpcurl stops it at -max-time and exits non-zero, after printing the stream.
    const failure = (await call.then(
      () => undefined,
      (e: unknown) => e,
    )) as { stdout: string; stderr: string } | undefined;
    expect(failure?.stderr).toMatch(/DeadlineExceeded/);
    expect(failure?.stdout).toContain('"productId": "sku-espresso"');
  });

  it("when a client stream is sent with a token, then the import summary comes back", async () => {
    const token = await gm.token();
    const productId = `sku-grpcurl-${crypto.randomUUID().slice(0, 8)}`;
    const lines = [
      { productId, quantity: 5, name: "grpcurl import", price: { currencyCode: "EUR", amountMinor: "700" } },
      { productId, quantity: 2 },
    ];

    const out = await grpcurl(
      "-H",
      `authorization: Bearer ${token}`,
      "-d",
      lines.map((l) => JSON.stringify(l)).join("\n"),
      target(),
      "shop.inventory.v1.InventoryService/ImportStock",
    );

    expect(JSON.parse(out)).toMatchObject({ acceptedCount: 2, createdCount: 1 });
  });
});

describe("the gateway's own health (grpc.health.v1 and /readyz) in front of a serving mesh", () => {
  it("when grpcurl (grpc-go, as grpc_health_probe) checks the gateway's overall health, then SERVING", async () => {
    const out = await grpcurl("-d", "{}", target(), "grpc.health.v1.Health/Check");

    expect(JSON.parse(out)).toEqual({ status: "SERVING" });
  });

  it("when a public service's health is checked through the gateway, then its backend's status comes back", async () => {
    const out = await grpcurl("-d", JSON.stringify({ service: "shop.order.v1.OrderService" }), target(), "grpc.health.v1.Health/Check");

    expect(JSON.parse(out)).toEqual({ status: "SERVING" });
  });

  it("when an unknown service's health is checked, then NOT_FOUND, as the health protocol says", async () => {
    const call = grpcurl("-d", JSON.stringify({ service: "no.such.Service" }), target(), "grpc.health.v1.Health/Check");

    await expect(call).rejects.toMatchObject({ stderr: expect.stringMatching(/Code: NotFound/) });
  });

  it("when /readyz is asked, then 200 SERVING with every backend's own answer", async () => {
    const res = await fetch(`${gm.baseUrl}/readyz`);

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING", backends: { order: "SERVING", payment: "SERVING", inventory: "SERVING" } });
  });
});
