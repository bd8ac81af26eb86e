import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import {
  InventoryService,
  ReservationStatus,
  ReserveStockResponseSchema,
  type ReserveStockRequest,
  type ReserveStockResponse,
} from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { notFound, unavailable } from "#shared/errors.js";
import type { Command, CommandBus, QueueFigures } from "#shared/commands/index.js";
import type { EventBus, IncomingEvent, OutgoingEvent, SubscribeOptions } from "#shared/events/event-bus.js";
import { bindServer, createGrpcServer, implement } from "#shared/grpc/server.js";
import type { Server } from "@grpc/grpc-js";
import { startOrderService, type OrderServiceHandle, type StartOptions } from "../src/app.js";
import { loadConfig, type OrderConfig } from "../src/config.js";

/** quietLogger keeps test output readable; set LOG_LEVEL=debug to see the service's lines. */
export const quietLogger = pino({ level: process.env["LOG_LEVEL"] ?? "silent" });

interface FakeProduct {
  price: { currencyCode: string; amountMinor: bigint };
  available: number;
}

/**
 * FakeInventory is an InventoryService stand-in speaking the real contract: ReserveStock (bidi, idempotent by
 * reservation_id) and ReleaseReservation, over a real gRPC port. Knobs let a test break the stream or stay silent.
 */
export class FakeInventory {
  readonly products = new Map<string, FakeProduct>([
    ["sku-espresso", { price: { currencyCode: "EUR", amountMinor: 250n }, available: 100 }],
    ["sku-croissant", { price: { currencyCode: "EUR", amountMinor: 180n }, available: 100 }],
    ["sku-rare", { price: { currencyCode: "EUR", amountMinor: 9_900n }, available: 1 }],
    ["sku-dollar", { price: { currencyCode: "USD", amountMinor: 300n }, available: 100 }],
    // The largest price inventory accepts (MAX_AMOUNT_MINOR): two of them make a total an order cannot hold.
    ["sku-yacht", { price: { currencyCode: "EUR", amountMinor: BigInt(Number.MAX_SAFE_INTEGER) }, available: 100 }],
  ]);
  readonly reservations = new Map<string, ReserveStockResponse>();
  readonly released: string[] = [];
  /** requests counts every ReserveStock request received, resends included. */
  requests = 0;
  /** streamsOpened counts ReserveStock calls. */
  streamsOpened = 0;
  /** breakNextStream: the next request kills its stream (UNAVAILABLE) before answering. */
  breakNextStream = false;
  /** delayMs holds each answer back this long. */
  delayMs = 0;
  server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<number> {
    const { server } = createGrpcServer({
      services: [
        implement(InventoryService, {
          reserveStock: (requests) => this.reserveStock(requests),
          releaseReservation: (request) => {
            this.released.push(request.reservationId);
            const held = this.reservations.get(request.reservationId);
            if (!held) throw notFound(`reservation "${request.reservationId}"`);
            return { reservation: held.reservation };
          },
        }),
      ],
    });
    this.server = server;
    this.port = await bindServer(server, `127.0.0.1:${port}`);
    return this.port;
  }

  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private async *reserveStock(requests: AsyncIterable<ReserveStockRequest>): AsyncIterable<ReserveStockResponse> {
    this.streamsOpened += 1;
    for await (const request of requests) {
      this.requests += 1;
      if (this.breakNextStream) {
        this.breakNextStream = false;
        throw unavailable("inventory stream reset");
      }
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      yield this.reserve(request);
    }
  }

  private reserve(request: ReserveStockRequest): ReserveStockResponse {
    const known = this.reservations.get(request.reservationId);
    if (known) return known;
    const reject = (errorCode: string, errorMessage: string) =>
      create(ReserveStockResponseSchema, {
        reservationId: request.reservationId,
        reservation: { reservationId: request.reservationId, orderId: request.orderId, status: ReservationStatus.REJECTED },
        errorCode,
        errorMessage,
      });
    for (const line of request.lines) {
      const product = this.products.get(line.productId);
      if (!product) return reject("NOT_FOUND", `product "${line.productId}" not found`);
      if (product.available < line.quantity) {
        return reject("FAILED_PRECONDITION", `product "${line.productId}": only ${product.available} in stock, ${line.quantity} requested`);
      }
    }
    const lines = request.lines.map((line) => {
      const product = this.products.get(line.productId)!;
      product.available -= line.quantity;
      return { productId: line.productId, quantity: line.quantity, unitPrice: product.price };
    });
    const response = create(ReserveStockResponseSchema, {
      reservationId: request.reservationId,
      reservation: { reservationId: request.reservationId, orderId: request.orderId, lines, status: ReservationStatus.HELD },
    });
    this.reservations.set(request.reservationId, response);
    return response;
  }
}

/**
 * MemoryBus is an in-memory EventBus for in-process tests: publish records, deliver() hands an event to the
 * subscribed handler as Kafka would. The Kafka-backed tests use the real bus.
 */
export class MemoryBus implements EventBus {
  readonly published: { topic: string; event: OutgoingEvent }[] = [];
  private readonly subscriptions: SubscribeOptions[] = [];
  private offset = 0;

  async publish(topic: string, events: readonly OutgoingEvent[]): Promise<void> {
    for (const event of events) this.published.push({ topic, event });
  }

  async subscribe(options: SubscribeOptions) {
    this.subscriptions.push(options);
    return { close: async () => {} };
  }

  async close(): Promise<void> {}

  async deliver(topic: string, event: OutgoingEvent): Promise<void> {
    const incoming: IncomingEvent = { ...event, topic, partition: 0, offset: String(this.offset++), headers: {} };
    for (const sub of this.subscriptions) if (sub.topics.includes(topic)) await sub.handle(incoming);
  }
}

/**
 * MemoryCommandBus is an in-memory CommandBus for in-process tests: send records what the command relay sent, so a
 * test needs no RabbitMQ (and never reaches one on a default port). Consuming is the notification service's, tested
 * on the real brokers; here it is refused.
 */
export class MemoryCommandBus implements CommandBus {
  readonly kind = "rabbitmq" as const;
  readonly sent: { queue: string; command: Command }[] = [];

  async send(queue: string, commands: readonly Command[]): Promise<void> {
    for (const command of commands) this.sent.push({ queue, command });
  }
  async consume(): Promise<never> {
    throw new Error("MemoryCommandBus only records sends");
  }
  async declare(): Promise<void> {}
  async parked(): Promise<[]> {
    return [];
  }
  async replay(): Promise<number> {
    return 0;
  }
  async figures(queue: string): Promise<QueueFigures> {
    return { queue, ready: 0, unacked: 0, retrying: 0, parked: 0 };
  }
  async close(): Promise<void> {}
}

/** TestOrderService is a started order service with its temp directory. */
export interface TestOrderService extends OrderServiceHandle {
  readonly dataDir: string;
  dispose(): Promise<void>;
}

/** startTestOrderService starts the whole order service on port 0 with a temp database. */
export async function startTestOrderService(env: Record<string, string>, options: StartOptions = {}): Promise<TestOrderService> {
  const dataDir = mkdtempSync(join(tmpdir(), "order-test-"));
  const config: Readonly<OrderConfig> = loadConfig({
    PORT: "0",
    METRICS_PORT: "0",
    DATA_DIR: dataDir,
    KAFKA_BROKERS: process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092",
    KAFKA_GROUP_ID: `order-test-${crypto.randomUUID()}`,
    KAFKA_FROM_BEGINNING: "false",
    RESERVE_TIMEOUT_MS: "1500",
    // In-process tests of the service's own behaviour; mTLS and the policy have their own tests.
    MESH_INSECURE: "1",
    ...env,
  });
  const handle = await startOrderService(config, { logger: quietLogger, graceMs: 2_000, commandBus: new MemoryCommandBus(), ...options });
  return {
    ...handle,
    dataDir,
    async dispose() {
      await handle.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** grpcCode extracts the numeric status of a failed call. */
export async function grpcError(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (error) {
    const { code, details } = error as { code: number; details: string };
    return { code, details };
  }
  throw new Error("expected the call to fail");
}
