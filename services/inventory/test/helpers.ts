import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import type { EventBus, OutgoingEvent } from "#shared/events/event-bus.js";
import { createClient, type ServiceClient } from "#shared/grpc/index.js";
import { createLogger } from "#shared/logger.js";
import { startInventory, type InventoryApp, type StartDeps } from "../src/app.js";
import { loadConfig } from "../src/config.js";

/** RunningInventory is a service started in-process on port 0 with a typed client to it. */
export interface RunningInventory {
  readonly app: InventoryApp;
  readonly client: ServiceClient<typeof InventoryService>;
  stop(): Promise<void>;
}

/** recordingBus is an EventBus that keeps what is published and never consumes: for tests that do not need Kafka. */
export function recordingBus(): EventBus & { published: { topic: string; event: OutgoingEvent }[] } {
  const published: { topic: string; event: OutgoingEvent }[] = [];
  return {
    published,
    async publish(topic, events) {
      for (const event of events) published.push({ topic, event });
    },
    async subscribe() {
      return { close: async () => {} };
    },
    async close() {},
  };
}

/** startTestInventory starts the service on 127.0.0.1:0 with its own temporary data dir and consumer group. */
export async function startTestInventory(env: Record<string, string> = {}, deps: StartDeps = {}): Promise<RunningInventory> {
  const dataDir = mkdtempSync(join(tmpdir(), "inventory-test-"));
  const config = loadConfig({
    PORT: "0",
    METRICS_PORT: "0",
    DATA_DIR: dataDir,
    KAFKA_BROKERS: process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092",
    KAFKA_GROUP_ID: `inventory-test-${randomUUID()}`,
    KAFKA_FROM_BEGINNING: "false",
    // In-process tests of the service's own behaviour; mTLS and the policy have their own tests.
    MESH_INSECURE: "1",
    ...env,
  });
  const logger = deps.logger ?? createLogger("inventory", { LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "silent", LOG_FORMAT: "json" });
  const app = await startInventory(config, { ...deps, logger });
  const client = createClient(InventoryService, app.address, { defaultTimeoutMs: 10_000 });
  return {
    app,
    client,
    async stop() {
      client.close();
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** AsyncQueue is a push/pull queue for feeding a client stream from a test step by step. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;

  push(item: T): void {
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ done: false, value: item });
    } else this.items.push(item);
  }

  end(): void {
    this.ended = true;
    this.waiting?.({ done: true, value: undefined });
    this.waiting = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ done: false, value: item });
        if (this.ended) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => (this.waiting = resolve));
      },
    };
  }
}
