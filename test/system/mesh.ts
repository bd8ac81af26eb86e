/**
 * The system-test mesh: inventory, payment, order and notification as real child processes (scripts/mesh: the same launcher as
 * `npm start` and the benchmarks, here from the TypeScript source) against the suite's real broker, each with its
 * own temp DATA_DIR, free port and unique consumer group (notification on the suite's RabbitMQ and Mailpit), plus typed clients and an EventLog of everything produced
 * after the mesh started. One mesh per test file; tests inside it use their own products and customers.
 */
import type { ChannelCredentials } from "@grpc/grpc-js";
import { inject } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentService } from "#gen/shop/payment/v1/payment_service_pb.js";
import type { ExitStatus, MeshChild } from "../../scripts/mesh/child.js";
import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { type GrpcProcessName, ProcessMesh, START_ORDER, type MeshProcessName, type ServiceName } from "../../scripts/mesh/mesh.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { commitOffsets, CONSUMED_TOPICS, EventLog, quietLogger, type TopicOffsets } from "./event-log.js";

export type { ServiceName };

export interface MeshOptions {
  /** env adds or overrides environment variables per service (e.g. PAYMENT_CURRENCIES). */
  readonly env?: Partial<Record<MeshProcessName, Record<string, string>>>;
  /** readyTimeoutMs bounds each service's wait for SERVING (default 60 s). */
  readonly readyTimeoutMs?: number;
  /** gateway also runs the gateway as a process in front of the services (its env: `env.gateway`). */
  readonly gateway?: boolean;
  /** commands are the RabbitMQ and SMTP sink of this mesh (a test that stops them brings its own); the suite's by default. */
  readonly commands?: { readonly rabbitmqUrl: string; readonly smtpUrl: string };
}

/** Mesh is a running set of the three services; see the file comment. */
export class Mesh {
  readonly inventory: ServiceClient<typeof InventoryService>;
  readonly payment: ServiceClient<typeof PaymentService>;
  readonly order: ServiceClient<typeof OrderService>;
  readonly notification: ServiceClient<typeof NotificationService>;

  private constructor(
    readonly brokers: string,
    readonly events: EventLog,
    private readonly processes: ProcessMesh,
  ) {
    // The tests call the services as the mesh's operator (mTLS, admin in policy/access.yaml), as grpcurl users do.
    const opts = (name: GrpcProcessName) => ({ defaultTimeoutMs: 10_000, credentials: processes.credentials(name) });
    this.inventory = createClient(InventoryService, this.address("inventory"), opts("inventory"));
    this.payment = createClient(PaymentService, this.address("payment"), opts("payment"));
    this.order = createClient(OrderService, this.address("order"), opts("order"));
    this.notification = createClient(NotificationService, this.address("notification"), opts("notification"));
  }

  /** start launches a mesh: see the file comment. */
  static async start(options: MeshOptions = {}): Promise<Mesh> {
    const brokers = kafkaBrokers();
    const processes = await ProcessMesh.plan({
      brokers,
      run: "source",
      groupPrefix: `test-${crypto.randomUUID()}`,
      env: { LOG_FORMAT: "json", LOG_LEVEL: process.env["SYSTEM_TEST_LOG_LEVEL"] ?? "info" },
      ...(options.env ? { processEnv: options.env } : {}),
      logFiles: true,
      keep: process.env["SYSTEM_TEST_KEEP"] === "1",
      readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
      gateway: options.gateway ?? false,
      commands: options.commands ?? commandBrokers(),
    });
    let events: EventLog | undefined;
    try {
      events = await EventLog.open(brokers);
      // Fresh groups with KAFKA_FROM_BEGINNING=false would start at "latest" whenever they first join — after a
      // SIGKILL before any commit, that skips the events produced while the service was down. Committing the
      // snapshot offsets for each group up front makes every restart resume exactly where the mesh began.
      await precommitGroups(brokers, processes.groupIds, events.start);
      await processes.start();
    } catch (error) {
      await processes.stop();
      await events?.close();
      throw error;
    }
    return new Mesh(brokers, events, processes);
  }

  /** root is the temp directory holding each service's DATA_DIR and log file. */
  get root(): string {
    return this.processes.dataRoot;
  }

  /** credentials are the mesh operator's mTLS credentials for calling `name` (for clients a test makes itself). */
  credentials(name: GrpcProcessName): ChannelCredentials | undefined {
    return this.processes.credentials(name);
  }

  /** pkiDir is the mesh's CA and certificates (the gateway in front of it gets the same PKI_DIR). */
  get pkiDir(): string | undefined {
    return this.processes.pkiDir;
  }

  get ports(): Readonly<Record<ServiceName, number>> {
    return this.processes.ports;
  }

  get groupIds(): Readonly<Record<ServiceName, string>> {
    return this.processes.groupIds;
  }

  /** address is `127.0.0.1:<port>` of a service (or of the gateway, when the mesh runs one). */
  address(name: MeshProcessName): string {
    return this.processes.address(name);
  }

  /** metricsUrl is where a process answers `GET /metrics` (its own free METRICS_PORT). */
  metricsUrl(name: MeshProcessName): string {
    return this.processes.metricsUrl(name);
  }

  /** process returns a service's current child process. */
  process(name: GrpcProcessName): MeshChild {
    return this.processes.process(name);
  }

  /** logs returns a service's captured output (all of its runs). */
  logs(name: GrpcProcessName, lines = 60): string {
    return this.processes.logs(name, lines);
  }

  /** kill signals a service and waits for it to exit (SIGKILL: no graceful stop at all). */
  kill(name: GrpcProcessName, signal: NodeJS.Signals = "SIGKILL"): Promise<ExitStatus> {
    return this.processes.kill(name, signal);
  }

  /** restart starts a stopped (or killed) service again with the same port and DATA_DIR, plus `env` overrides. */
  restart(name: GrpcProcessName, env: Record<string, string> = {}): Promise<void> {
    return this.processes.restart(name, env);
  }

  /** stop sends SIGTERM to every service (order first, so it stops calling inventory) and waits for them. */
  async stop(): Promise<void> {
    await this.processes.stop();
    for (const client of [this.order, this.payment, this.inventory, this.notification]) client.close();
    await this.events.close();
  }

  /** describe prints the last log lines of every service, for failure messages. */
  describe(lines = 30): string {
    return this.processes.describe(lines);
  }
}

/** commandBrokers are the suite's RabbitMQ and SMTP sink (test/global-setup.ts). */
export function commandBrokers(): { rabbitmqUrl: string; smtpUrl: string } {
  const rabbitmqUrl = inject("rabbitmqUrl");
  const smtpUrl = inject("smtpUrl");
  if (!rabbitmqUrl || !smtpUrl) throw new Error("no RabbitMQ or SMTP sink: run the system tests through vitest (test/global-setup.ts)");
  return { rabbitmqUrl, smtpUrl };
}

/** mailpitUrl is the suite's Mailpit (its API lists the emails sent); fails when the suite was given an SMTP_URL instead. */
export function mailpitUrl(): string {
  const url = inject("mailpitUrl");
  if (!url) throw new Error("the suite's SMTP sink is not its own Mailpit (SMTP_URL was given): its emails cannot be read back");
  return url;
}

/** kafkaBrokers is the suite's broker (test/global-setup.ts). */
export function kafkaBrokers(): string {
  const brokers = process.env["KAFKA_BROKERS"] ?? inject("kafkaBrokers");
  if (!brokers) throw new Error("no KAFKA_BROKERS: run the system tests through vitest (test/global-setup.ts)");
  return brokers;
}

async function precommitGroups(brokers: string, groupIds: Readonly<Record<ServiceName, string>>, start: TopicOffsets): Promise<void> {
  const kafka = createKafkaClient({ brokers: parseBrokers(brokers), clientId: "shopmesh-system-test-admin", logger: quietLogger() });
  await Promise.all(START_ORDER.map((name) => commitOffsets(kafka, groupIds[name], start, CONSUMED_TOPICS[name])));
}
