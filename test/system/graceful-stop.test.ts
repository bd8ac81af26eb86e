/**
 * System tests of the kit's graceful stop, on real processes: SIGTERM with a WatchOrder open (the web UI keeps one)
 * and SIGTERM with a health watcher connected. The stop must end streams cleanly, let health watchers see
 * NOT_SERVING while the port still answers, leave the consumer group, flush the outbox, close the database and
 * exit 0, all within the grace.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "#gen/grpc/health/v1/health_pb.js";
import { OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { createClient } from "#shared/grpc/client.js";
import { checkHealth, createHealthClient } from "#shared/grpc/health-client.js";
import { groupMemberIds } from "./consumer-groups.js";
import { createOrder, createProduct, orderOf } from "./fixtures.js";
import { Mesh } from "./mesh.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

/** GRACE_MS is the order service's SHUTDOWN_GRACE_MS here, and the bound on its whole exit. */
const GRACE_MS = 10_000;
/** DRAIN_MS is long enough for a fresh connection's health check in the window, even on a busy machine. */
const DRAIN_MS = 3_000;

let mesh: Mesh;

beforeAll(async () => {
  const shutdown = { SHUTDOWN_DRAIN_MS: String(DRAIN_MS), SHUTDOWN_GRACE_MS: String(GRACE_MS) };
  mesh = await Mesh.start({ env: { order: shutdown, inventory: shutdown } });
});

afterAll(async () => {
  await mesh?.stop();
});

/** statusOf runs a call to its end and returns the status it ended with (OK when it ended cleanly). */
async function statusOf(work: () => Promise<void>): Promise<{ code: number; details: string }> {
  try {
    await work();
    return { code: status.OK, details: "" };
  } catch (error) {
    const { code, details } = error as { code: number; details: string };
    return { code, details };
  }
}

describe("graceful stop", () => {
  it("when SIGTERM arrives with a WatchOrder open, then the stream ends with UNAVAILABLE shutting down, the process exits 0 within the grace, the group is left, the outbox flushed and the database closed", async () => {
    // Arrange: payment is down, so the order stays AWAITING_PAYMENT and its watch stays open
    await mesh.kill("payment", "SIGTERM");
    const productId = await createProduct(mesh, 5);
    const order = await createOrder(mesh, orderOf(productId, 1));
    expect(await groupMemberIds(mesh.brokers, mesh.groupIds.order)).toHaveLength(1);
    const seen: OrderStatus[] = [];
    const watching = statusOf(async () => {
      for await (const { order: update } of mesh.order.watchOrder({ orderId: order.orderId }, { timeoutMs: 120_000 })) {
        if (update) seen.push(update.status);
      }
    });
    await waitUntil(() => seen.includes(OrderStatus.AWAITING_PAYMENT), { message: "the watch to see the order" });
    const orderProcess = mesh.process("order");

    // Act: the process gets the grace as its whole bound; past it MeshChild.stop sends SIGKILL
    const exit = await orderProcess.stop("SIGTERM", GRACE_MS);

    // Assert
    expect(await watching).toEqual({ code: status.UNAVAILABLE, details: "shutting down" });
    expect(exit, orderProcess.tail()).toEqual({ code: 0, signal: null });
    expect(await groupMemberIds(mesh.brokers, mesh.groupIds.order)).toEqual([]);
    const stopLines = orderProcess
      .output()
      .map((line) => /"msg":"([^"]+)"/.exec(line)?.[1])
      .filter((msg) => ["left the consumer group", "outbox flushed", "database closed", "stopped"].includes(msg ?? ""));
    expect(stopLines).toEqual(["left the consumer group", "outbox flushed", "database closed", "stopped"]);
    // A database closed by its last connection is checkpointed and its WAL removed; a killed process leaves it.
    const file = path.join(mesh.root, "order", "order.db");
    expect(existsSync(`${file}-wal`)).toBe(false);
    const db = new Database(file, { readonly: true });
    try {
      const unpublished = db.prepare("SELECT count(*) AS n FROM outbox WHERE state != 'PUBLISHED'").get() as { n: number };
      expect(unpublished.n).toBe(0);
    } finally {
      db.close();
    }
  }, 120_000);

  it("when SIGTERM arrives, then a health Watch sees NOT_SERVING while the port still answers, then its stream ends and the port closes", async () => {
    // Arrange
    const address = mesh.address("inventory");
    const watcher = createHealthClient(address, mesh.credentials("inventory"));
    const seen: string[] = [];
    const watching = statusOf(async () => {
      for await (const { status: serving } of watcher.watch({ service: "" }, { timeoutMs: 120_000 })) {
        seen.push(HealthCheckResponse_ServingStatus[serving] ?? "?");
      }
    });
    await waitUntil(() => seen.includes("SERVING"), { message: "the watcher to see SERVING" });
    const inventory = mesh.process("inventory");

    // Act
    const exiting = inventory.stop("SIGTERM", DRAIN_MS + GRACE_MS);
    await waitUntil(() => seen.includes("NOT_SERVING"), { message: "the watcher to see NOT_SERVING", timeoutMs: DRAIN_MS });
    // A client with its own subchannel pool opens a new TCP connection instead of reusing the watcher's.
    const fresh = createClient(Health, address, {
      credentials: mesh.credentials("inventory"),
      channelOptions: { "grpc.use_local_subchannel_pool": 1 },
    });
    const onAFreshConnection = await checkHealth(address, { client: fresh, timeoutMs: DRAIN_MS }).finally(() => fresh.close());

    // Assert
    expect(onAFreshConnection).toBe("NOT_SERVING");
    expect(await watching).toEqual({ code: status.UNAVAILABLE, details: "shutting down" });
    expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
    expect(await exiting, inventory.tail()).toEqual({ code: 0, signal: null });
    await expect(checkHealth(address)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    watcher.close();
  }, 120_000);
});
