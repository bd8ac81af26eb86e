// In-process tests of the service kit's lifecycle with an in-memory bus: the start order, waiting out retriable
// Kafka errors, failing clearly on the others, the stop order and its idempotence, and what consumers get.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from "kafkajs";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { PaymentAuthorizedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { readServiceSettings, type ServiceSettings } from "#shared/config.js";
import { INSECURE_WARNING } from "#shared/security/mesh-transport.js";
import { eventHandler, type HandledEvent } from "#shared/events/consumer.js";
import { toOutgoingEvent, type EventBus, type OutgoingEvent, type SubscribeOptions } from "#shared/events/event-bus.js";
import { checkHealth } from "#shared/grpc/health-client.js";
import { implement } from "#shared/grpc/server.js";
import { groupMembersSchema } from "#shared/kit/group-members.js";
import { isRetriable } from "#shared/kit/kafka-start.js";
import { startService, type Kit, type ServiceDefinition, type ServiceWiring } from "#shared/kit/index.js";
import { openDatabase } from "#shared/store/database.js";
import { ensureMeshPki } from "#shared/security/pki.js";
import { MeshCertificates } from "#shared/security/certificates.js";
import { currentTrace } from "#shared/trace-context.js";
import { freePort } from "../../../scripts/mesh/free-port.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const loading = () =>
  new KafkaJSProtocolError(
    Object.assign(new Error("The coordinator is loading and hence can't process requests"), {
      type: "COORDINATOR_LOAD_IN_PROGRESS",
      code: 14,
      retriable: true,
    }),
  );

/** FakeBus is an EventBus that records what the kit does with it; `failSubscribe` fails the next subscribes. */
class FakeBus implements EventBus {
  readonly steps: string[] = [];
  readonly published: OutgoingEvent[] = [];
  subscriptions: SubscribeOptions[] = [];
  failSubscribe: Error[] = [];
  onLeave: () => void = () => undefined;
  joinGate: Promise<void> = Promise.resolve();

  async ready(topics: readonly string[]): Promise<void> {
    this.steps.push(`ready ${[...topics].sort().join(",")}`);
  }
  async publish(topic: string, events: readonly OutgoingEvent[]): Promise<void> {
    this.steps.push(`publish ${topic}`);
    this.published.push(...events);
  }
  async subscribe(options: SubscribeOptions) {
    const failure = this.failSubscribe.shift();
    this.steps.push(failure ? "subscribe failed" : "subscribe");
    if (failure) throw failure;
    await this.joinGate;
    this.subscriptions.push(options);
    options.onGroupJoin?.("member-1");
    return {
      close: async () => {
        this.onLeave();
        this.steps.push("leave group");
      },
    };
  }
  async close(): Promise<void> {
    this.steps.push("bus closed");
  }
}

function memoryLogger() {
  const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines, at: (level: number) => lines.filter((line) => line.level === level) };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function settings(env: Record<string, string> = {}): ServiceSettings {
  const dir = mkdtempSync(path.join(tmpdir(), "service-kit-"));
  dirs.push(dir);
  return readServiceSettings(
    { PORT: "0", DATA_DIR: dir, SHUTDOWN_DRAIN_MS: "0", KAFKA_START_TIMEOUT_MS: "5000", MESH_INSECURE: "1", ...env },
    "kittest",
    0,
  );
}

/** definition is a small service: one RPC, one consumed event type, one published topic, one timer. */
function definition(
  handled: { event: HandledEvent; traceId: string | undefined }[] = [],
  extra: Partial<ServiceWiring<{ kit: Kit<ServiceSettings> }>> = {},
): ServiceDefinition<ServiceSettings, { kit: Kit<ServiceSettings> }> {
  return {
    name: "kittest",
    schema: [],
    wire: (kit) => ({
      serves: [implement(InventoryService, { getProduct: () => ({}) })],
      consumes: {
        "shop.payment.v1.events": [
          eventHandler(PaymentAuthorizedSchema, (_message, event) => void handled.push({ event, traceId: currentTrace()?.traceId })),
        ],
      },
      publishes: ["shop.kittest.v1.events"],
      parts: { kit },
      ...extra,
    }),
  };
}

describe("service kit", () => {
  it("when the service starts, then it binds early and reports NOT_SERVING until the bus is ready and the group joined", async () => {
    // Arrange
    const bus = new FakeBus();
    let join!: () => void;
    bus.joinGate = new Promise((resolve) => (join = resolve));
    const port = await freePort();
    const config = settings({ PORT: String(port) });

    // Act
    const starting = startService(definition(), config, { bus, logger: memoryLogger().logger });
    await waitFor(() => bus.steps.includes("subscribe"));
    const whileJoining = await checkHealth(`127.0.0.1:${port}`);
    join();
    const service = await starting;

    // Assert
    expect(whileJoining).toBe("NOT_SERVING");
    expect(await checkHealth(service.address)).toBe("SERVING");
    expect(bus.steps).toEqual(["ready shop.kittest.v1.events,shop.payment.v1.events", "subscribe"]);
    await service.stop();
  });

  it("when the first Kafka calls fail with 'The coordinator is loading', then the start waits, warns once, and serves", async () => {
    const bus = new FakeBus();
    bus.failSubscribe = [loading(), loading()];
    const log = memoryLogger();

    const service = await startService(definition(), settings(), { bus, logger: log.logger });

    expect(bus.steps).toContain("subscribe failed");
    expect(await checkHealth(service.address)).toBe("SERVING");
    // The kit's tests run plaintext (settings()), which the kit says once at start, before the one Kafka warning.
    expect(log.at(40).map((line) => line.msg)).toEqual([
      INSECURE_WARNING,
      "Kafka is not ready yet; waiting for it (KAFKA_START_TIMEOUT_MS)",
    ]);
    expect(log.at(50)).toEqual([]);
    await service.stop();
  });

  it("when Kafka fails with a non-retriable error, then the start fails with it and the database is closed", async () => {
    const bus = new FakeBus();
    bus.failSubscribe = [new KafkaJSNonRetriableError("SASL authentication failed")];
    let kit: Kit<ServiceSettings> | undefined;
    const capture = definition([], {});
    const wire = capture.wire;

    const failure = await startService(
      {
        ...capture,
        wire: (k) => {
          kit = k;
          return wire(k);
        },
      },
      settings(),
      {
        bus,
        logger: memoryLogger().logger,
      },
    ).then(
      () => undefined,
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(KafkaJSNonRetriableError);
    expect((failure as Error).message).toBe("SASL authentication failed");
    expect(kit?.db.open).toBe(false);
    expect(kit?.stopping.aborted).toBe(true);
  });

  it("when the database cannot be opened under mTLS, then the start fails and leaves no certificate watcher running", async () => {
    const pkiDir = mkdtempSync(path.join(tmpdir(), "service-kit-pki-"));
    dirs.push(pkiDir);
    await ensureMeshPki(pkiDir);
    const notADirectory = path.join(pkiDir, "ca.crt"); // DATA_DIR names a file: the database cannot be created
    // The certificates' refresh timer is unref'd (it never holds the process open by itself), so what shows a leak is
    // whether the watcher was closed.
    const closed = vi.spyOn(MeshCertificates.prototype, "close");

    const failure = await startService(
      { ...definition(), name: "inventory" },
      settings({ MESH_INSECURE: "0", PKI_DIR: pkiDir, DATA_DIR: notADirectory }),
      {
        bus: new FakeBus(),
        logger: memoryLogger().logger,
      },
    ).then(
      () => undefined,
      (error: unknown) => error as NodeJS.ErrnoException,
    );

    expect(failure?.code).toMatch(/^(EEXIST|ENOTDIR)$/);
    expect(closed).toHaveBeenCalledTimes(1);
    closed.mockRestore();
  });

  it("when stop is called twice, then both calls share one stop that runs in order and leaves the group before the last flush", async () => {
    // Arrange: a handler still finishing while the group is left writes an outbox row; the flush must send it.
    const bus = new FakeBus();
    const service = await startService(definition(), settings(), { bus, logger: memoryLogger().logger });
    const { kit } = service.parts;
    bus.onLeave = () => {
      expect(kit.stopping.aborted).toBe(true);
      kit.outbox.add({
        ...toOutgoingEvent(PaymentAuthorizedSchema, create(PaymentAuthorizedSchema), { source: "shopmesh/kittest", subject: "o-1" }),
        topic: "shop.kittest.v1.events",
      });
    };

    // Act
    const first = service.stop();
    const second = service.stop();
    await first;

    // Assert
    expect(second).toBe(first);
    expect(bus.steps.slice(-2)).toEqual(["leave group", "publish shop.kittest.v1.events"]);
    expect(bus.steps).not.toContain("bus closed"); // a bus the caller gave is the caller's to close
    expect(kit.db.open).toBe(false);
    expect(service.stopProgress()).toBeUndefined();
    expect(service.stopBudgetMs).toBe(0 + 10_000 + 15_000);
  });

  it("when an event arrives, then its handler runs in the event's trace, under `<service>.<event-name>`, with the EVENT_RETRY_* policy", async () => {
    const bus = new FakeBus();
    const handled: { event: HandledEvent; traceId: string | undefined }[] = [];
    const config = settings({ EVENT_RETRY_ATTEMPTS: "7", EVENT_RETRY_INITIAL_MS: "11", EVENT_RETRY_MAX_MS: "13" });
    const service = await startService(definition(handled), config, { bus, logger: memoryLogger().logger });
    const [subscription] = bus.subscriptions;
    const event = toOutgoingEvent(PaymentAuthorizedSchema, create(PaymentAuthorizedSchema, { orderId: "o-1" }), {
      source: "shopmesh/payment",
      subject: "o-1",
      traceparent: TRACEPARENT,
    });

    await subscription!.handle({ ...event, topic: "shop.payment.v1.events", partition: 0, offset: "0", headers: {} });

    expect(subscription).toMatchObject({ groupId: "shopmesh-kittest", retry: { attempts: 7, initialDelayMs: 11, maxDelayMs: 13 } });
    expect(handled).toHaveLength(1);
    expect(handled[0]!.event.inboxConsumer).toBe("kittest.payment-authorized");
    expect(handled[0]!.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    await service.stop();
  });

  it("when a crashed run left its group member behind, then the next start names it as stale and records its own", async () => {
    // Arrange: what a run killed with SIGKILL leaves in the kit's table
    const config = settings();
    const left = openDatabase(path.join(config.dataDir, "kittest.db"), groupMembersSchema);
    left.prepare("INSERT INTO kit_group_members (group_id, member_id) VALUES ('shopmesh-kittest', 'member-dead')").run();
    left.close();
    const bus = new FakeBus();

    // Act
    const service = await startService(definition(), config, { bus, logger: memoryLogger().logger });

    // Assert
    expect(bus.subscriptions[0]?.staleMembers).toEqual(["member-dead"]);
    expect(service.db.prepare("SELECT member_id FROM kit_group_members").all()).toEqual([{ member_id: "member-1" }]);
    await service.stop();
  });

  it("when the service stopped gracefully, then the next start has no stale member to evict", async () => {
    const config = settings();
    await (await startService(definition(), config, { bus: new FakeBus(), logger: memoryLogger().logger })).stop();
    const bus = new FakeBus();

    const service = await startService(definition(), config, { bus, logger: memoryLogger().logger });

    expect(bus.subscriptions[0]?.staleMembers).toEqual([]);
    await service.stop();
  });

  it("when a timer is declared, then it runs while the service serves and not after the stop began", async () => {
    let ticks = 0;
    const service = await startService(definition([], { timers: [{ name: "tick", everyMs: 5, run: () => (ticks += 1) }] }), settings(), {
      bus: new FakeBus(),
      logger: memoryLogger().logger,
    });
    await waitFor(() => ticks >= 2);

    await service.stop();
    const atStop = ticks;
    await new Promise((resolve) => setTimeout(resolve, 30));

    expect(ticks).toBe(atStop);
  });

  it("when errors are classified, then kafkajs's retriable ones and its given-up retries are retriable, the rest not", () => {
    expect(isRetriable(loading())).toBe(true);
    expect(isRetriable(new KafkaJSNumberOfRetriesExceeded(new Error("connect ECONNREFUSED"), { retryCount: 8, retryTime: 100 }))).toBe(
      true,
    );
    expect(isRetriable(new KafkaJSNonRetriableError("SASL authentication failed"))).toBe(false);
    expect(isRetriable(new Error("boom"))).toBe(false);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
