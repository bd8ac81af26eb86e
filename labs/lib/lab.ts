/**
 * Lab is one fault lab's world: a Kafka broker of its own on a free port (scripts/kafka.sh through the mesh's broker
 * helper), the mesh as processes on free ports (ProcessMesh, compiled as production runs it), lab products imported
 * into a stock ledger, the steady order load, the broker's fault controls, a timeline, and at the end the settle
 * window, the read-only snapshot and the reconciliation. It never touches `npm start`'s 9092 or 50051-50053/8080.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { createClient, type ServiceClient } from "#shared/grpc/client.js";
import { SEED_CATALOG } from "../../services/inventory/src/domain/catalog-seed.js";
import { TOPIC_SPECS } from "#shared/events/topics.js";
import { commitOffsets, CONSUMED_TOPICS, endOffsets, type TopicOffsets } from "../../test/system/event-log.js";
import { ProcessMesh, START_ORDER, type MeshProcessName, type ServiceName } from "../../scripts/mesh/mesh.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { brokerPid, kafkaCommand, releaseLabBroker, startLabBroker, type LabBroker } from "./lab-broker.js";
import { OrderLoad, type LoadOptions, type LoadStats } from "./load.js";
import { reconcileEmails } from "./emails.js";
import { mailpitSubjects, startLabCommandBrokers, type LabCommandBrokers } from "./lab-commands.js";
import { reconcile, type Check, type DeadLetterRecord, type Explainer, type Verdict } from "./reconcile.js";
import {
  commandsUnhandled,
  consumerLag,
  heldReservations,
  pendingOrders,
  readEmails,
  readKafka,
  readStoredState,
  unpublishedOutboxRows,
} from "./snapshot.js";

/** TOPICS are the event topics and their DLQs. */
const TOPICS: readonly string[] = TOPIC_SPECS.map((spec) => spec.name);

/** SETTLE_MS: every order must be terminal, and every outbox drained, this long after the faults stop. */
export const SETTLE_MS = 60_000;

/** LabOptions tune a lab's mesh. */
export interface LabOptions {
  /**
   * broker is a running lab broker to use (and leave running); without it the lab starts one of its own. Sharing
   * one saves a broker start per lab (CI's short labs); each lab still reads and judges only its own messages.
   */
  readonly broker?: LabBroker;
  /** releaseBroker makes the lab stop a `broker` it was given, as if it had started it. */
  readonly releaseBroker?: boolean;
  /** ports fixes some processes' ports (a proxy in front of them needs to know them first). */
  readonly ports?: Partial<Record<MeshProcessName, number>>;
  readonly processEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /**
   * commands runs the mesh with its command bus: a RabbitMQ and a Mailpit of the lab's own, order sending its
   * SendOrderEmail commands there and the notification service emailing them. The settle window then also waits for
   * every command to be handled, and the verdict adds the email checks (labs/lib/emails.ts). Without it order runs
   * with COMMAND_BUS=off, as the labs did before commands existed.
   */
  readonly commands?: boolean;
  /** log prints progress lines (the CLI); tests leave it quiet. */
  readonly log?: (line: string) => void;
}

/** LabResult is what a lab writes into its report. */
export interface LabResult {
  readonly scenario: string;
  readonly short: boolean;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly brokerPort: number;
  readonly timeline: readonly { atSeconds: number; what: string }[];
  readonly load: Omit<LoadStats, "acceptedOrderIds">;
  readonly settleSeconds: number | undefined;
  readonly peakRssMiB: Readonly<Record<string, number>>;
  readonly rssSamples: readonly { atSeconds: number; rssMiB: Record<string, number> }[];
  readonly facts: Readonly<Record<string, unknown>>;
  readonly verdict: Verdict;
  /** dataRoot is kept when the verdict fails, to read the services' logs and databases. */
  readonly dataRoot: string | undefined;
}

/** Lab: see the file comment. */
export class Lab {
  readonly order: ServiceClient<typeof OrderService>;
  readonly inventory: ServiceClient<typeof InventoryService>;
  readonly ledger: Record<string, number> = Object.fromEntries(SEED_CATALOG.map((p) => [p.productId, p.available]));
  /** facts are scenario-specific findings that go into the report (e.g. deadline measurements). */
  readonly facts: Record<string, unknown> = {};
  private readonly timeline: { atSeconds: number; what: string }[] = [];
  private readonly explainers: Explainer[] = [];
  private readonly extraChecks: Check[] = [];
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly rssSamples: { atSeconds: number; rssMiB: Record<string, number> }[] = [];
  private readonly started = Date.now();
  private load: OrderLoad | undefined;
  private loadStats: LoadStats | undefined;
  private sampler: NodeJS.Timeout | undefined;

  private constructor(
    readonly scenario: string,
    readonly short: boolean,
    readonly brokerPort: number,
    private readonly labBroker: LabBroker,
    private readonly ownsBroker: boolean,
    /** since are the topics' end offsets when the lab began: its own messages come after them. */
    private readonly since: TopicOffsets,
    readonly mesh: ProcessMesh,
    private readonly log: (line: string) => void,
    /** commandBrokers are the lab's RabbitMQ and Mailpit (with `commands`). */
    readonly commandBrokers: LabCommandBrokers | undefined,
  ) {
    this.order = createClient(OrderService, mesh.address("order"), { defaultTimeoutMs: 10_000, credentials: mesh.credentials("order") });
    this.inventory = createClient(InventoryService, mesh.address("inventory"), {
      defaultTimeoutMs: 10_000,
      credentials: mesh.credentials("inventory"),
    });
  }

  /** open starts the lab's broker and mesh. */
  static async open(scenario: string, short: boolean, options: LabOptions = {}): Promise<Lab> {
    const log = options.log ?? (() => undefined);
    log(`[${scenario}] ${options.broker ? "using the shared lab broker" : "starting a broker of its own"} and the mesh`);
    // RabbitMQ takes about 12 s to start: beside the Kafka broker's start, not after it.
    const [kafkaStart, commandStart] = await Promise.allSettled([
      options.broker ? Promise.resolve(options.broker) : startLabBroker(),
      options.commands ? startLabCommandBrokers() : Promise.resolve(undefined),
    ]);
    if (kafkaStart.status === "rejected" || commandStart.status === "rejected") {
      if (kafkaStart.status === "fulfilled" && (!options.broker || options.releaseBroker)) await releaseLabBroker(kafkaStart.value);
      if (commandStart.status === "fulfilled") await commandStart.value?.release();
      throw kafkaStart.status === "rejected" ? kafkaStart.reason : (commandStart as PromiseRejectedResult).reason;
    }
    const labBroker = kafkaStart.value;
    const commandBrokers = commandStart.value;
    const brokers = labBroker.broker.brokers;
    let mesh: ProcessMesh | undefined;
    let since: TopicOffsets;
    try {
      // Consumer groups of this lab's own, committed at the current ends before the services first join: they start
      // exactly there, even when a service is killed before its first commit, and never see an earlier lab's events.
      const kafka = createKafkaClient({ brokers: parseBrokers(brokers), clientId: `shopmesh-lab-${scenario}`, logger: silent });
      const admin = kafka.admin();
      await admin.connect();
      try {
        // Right after a start the topics' partitions may have no leader yet ("not the leader"): ask until they do.
        since = await waitUntil(() => endOffsets(admin, TOPICS), {
          timeoutMs: 30_000,
          intervalMs: 500,
          message: "the topics' end offsets",
        });
      } finally {
        await admin.disconnect();
      }
      mesh = await ProcessMesh.plan({
        brokers,
        run: "compiled",
        groupPrefix: `lab-${scenario}-${crypto.randomUUID().slice(0, 8)}`,
        dataRoot: mkdtempSync(path.join(tmpdir(), `shopmesh-lab-${scenario}-`)),
        logFiles: true,
        // info, not debug: consumer joins, rebalances and relay retries are what a failed lab's reader needs.
        env: { LOG_FORMAT: "json", LOG_LEVEL: "info" },
        ...(options.processEnv ? { processEnv: options.processEnv } : {}),
        ...(options.ports ? { ports: options.ports } : {}),
        ...(commandBrokers ? { commands: { rabbitmqUrl: commandBrokers.rabbitmqUrl, smtpUrl: commandBrokers.smtpUrl } } : {}),
        readyTimeoutMs: 60_000,
        stopTimeoutMs: 20_000,
      });
      const groups = mesh.groupIds;
      await Promise.all(START_ORDER.map((name) => commitOffsets(kafka, groups[name], since, CONSUMED_TOPICS[name])));
      await mesh.start();
    } catch (error) {
      await mesh?.stop();
      if (!options.broker || options.releaseBroker) await releaseLabBroker(labBroker);
      await commandBrokers?.release();
      throw error;
    }
    const owns = !options.broker || options.releaseBroker === true;
    const lab = new Lab(scenario, short, labBroker.port, labBroker, owns, since, mesh, log, commandBrokers);
    lab.note(
      `broker on ${labBroker.port}; order ${mesh.address("order")}, payment ${mesh.address("payment")}, inventory ${mesh.address("inventory")}` +
        (commandBrokers
          ? `; RabbitMQ on ${commandBrokers.rabbitmqPort}, Mailpit ${commandBrokers.mailpitUrl}, notification ${mesh.address("notification")}`
          : ""),
    );
    lab.sampler = setInterval(() => lab.sampleRss(), 5_000);
    return lab;
  }

  /** brokers is the lab broker's address (`127.0.0.1:<port>`). */
  get brokers(): string {
    return this.labBroker.broker.brokers;
  }

  /** seconds since the lab started. */
  get seconds(): number {
    return Math.round((Date.now() - this.started) / 100) / 10;
  }

  /** note adds a line to the timeline (and to the progress output). */
  note(what: string): void {
    this.timeline.push({ atSeconds: this.seconds, what });
    this.log(`[${this.scenario} +${this.seconds}s] ${what}`);
  }

  /** importProducts creates `count` lab products of `units` each and adds them to the ledger. */
  async importProducts(count: number, units: number): Promise<string[]> {
    const ids = Array.from({ length: count }, (_, i) => `sku-lab-${i}-${crypto.randomUUID().slice(0, 6)}`);
    const summary = await this.inventory.importStock(
      ids.map((productId) => ({ productId, quantity: units, name: `Lab ${productId}`, price: { currencyCode: "EUR", amountMinor: 500n } })),
    );
    if (summary.createdCount !== count) throw new Error(`importing lab products failed: ${JSON.stringify(summary.errors)}`);
    for (const id of ids) this.ledger[id] = units;
    return ids;
  }

  /** startLoad starts the steady order load (one per lab). */
  startLoad(options: LoadOptions): OrderLoad {
    if (this.load) throw new Error("the load is already running");
    this.load = new OrderLoad(this.order, options);
    this.load.start();
    this.note(`load started: ${options.ratePerSecond} orders/s, at most ${options.maxOrders}`);
    return this.load;
  }

  /** stopLoad stops the load and waits for the orders in flight. */
  async stopLoad(): Promise<LoadStats> {
    if (this.loadStats) return this.loadStats;
    this.loadStats = (await this.load?.stop()) ?? this.loadStats;
    const s = this.loadStats;
    if (s)
      this.note(
        `load stopped: ${s.attempted} attempted, ${s.accepted} accepted, ${s.retries} retries, rejected ${JSON.stringify(s.rejected)}`,
      );
    return s ?? { attempted: 0, accepted: 0, retries: 0, maxAttemptsUsed: 0, rejected: {}, skippedTicks: 0, acceptedOrderIds: [] };
  }

  /** addCheck adds a scenario's own check (e.g. deadlines honoured) to the verdict. */
  addCheck(check: Check): void {
    this.extraChecks.push(check);
  }

  /** onClose runs `close` when the lab ends (after the mesh stopped), e.g. to stop a proxy the scenario started. */
  onClose(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** expectDeadLetters explains dead letters the scenario caused on purpose. */
  expectDeadLetters(explain: Explainer): void {
    this.explainers.push(explain);
  }

  /** killService signals a service and waits for it to exit. */
  async killService(name: ServiceName, signal: NodeJS.Signals): Promise<void> {
    const status = await this.mesh.kill(name, signal);
    this.note(`${signal} ${name}: exited (code ${status.code}, signal ${status.signal})`);
  }

  /** restartService starts a service again on its port and data, and waits for SERVING. */
  async restartService(name: ServiceName): Promise<void> {
    await this.mesh.restart(name);
    this.note(`${name} restarted and SERVING`);
  }

  /** stopBroker stops the lab's broker (its data stays); startBroker starts it again. */
  async stopBroker(): Promise<void> {
    await kafkaCommand(this.brokerPort, "stop");
    this.note("broker stopped");
  }

  async startBroker(): Promise<void> {
    await kafkaCommand(this.brokerPort, "start");
    this.note("broker started again");
  }

  /** stopRabbitmq stops the lab's RabbitMQ (its data stays); startRabbitmq starts it again on the same ports. */
  async stopRabbitmq(): Promise<void> {
    await this.requireCommands().stopRabbitmq();
    this.note("RabbitMQ stopped");
  }

  async startRabbitmq(): Promise<void> {
    await this.requireCommands().startRabbitmq();
    this.note("RabbitMQ started again");
  }

  private requireCommands(): LabCommandBrokers {
    if (!this.commandBrokers) throw new Error(`the ${this.scenario} lab runs without commands (LabOptions.commands)`);
    return this.commandBrokers;
  }

  /** signalBroker sends SIGSTOP or SIGCONT to the broker's JVM. */
  signalBroker(signal: "SIGSTOP" | "SIGCONT"): void {
    const pid = brokerPid(this.brokerPort);
    process.kill(pid, signal);
    this.note(`${signal} broker (pid ${pid})`);
  }

  /** faultsStopped marks the end of the faults; the settle window starts here. */
  faultsStopped(): void {
    this.note("faults stopped");
  }

  /**
   * finish stops the load if needed, waits up to SETTLE_MS for every order to be terminal, every outbox drained and no
   * stock held,
   * stops the mesh gracefully, reads the databases and topics, reconciles, and releases the broker. It always
   * releases what the lab started, verdict or error.
   */
  async finish(): Promise<LabResult> {
    let keepData = true;
    try {
      const load = await this.stopLoad();
      const settleStarted = Date.now();
      let pending: string[] = [];
      let settleSeconds: number | undefined;
      let lag = 0;
      let unhandled = 0;
      const admin = createKafkaClient({ brokers: parseBrokers(this.brokers), clientId: "shopmesh-lab-settle", logger: silent }).admin();
      try {
        await admin.connect();
        // Orders terminal is not enough: a CONFIRMED order's stock commit (or its re-reservation after an expiry) is
        // inventory's next event to handle. Settled means nothing is left to send and nothing is left to consume.
        await waitUntil(
          async () => {
            pending = pendingOrders(this.mesh.dataRoot);
            const root = this.mesh.dataRoot;
            if (pending.length > 0 || unpublishedOutboxRows(root) > 0 || heldReservations(root) > 0) return false;
            lag = await consumerLag(admin, this.mesh.groupIds, CONSUMED_TOPICS);
            if (lag > 0) return false;
            // With commands, settled also means the notification service has handled every command order sent.
            unhandled = this.commandBrokers ? commandsUnhandled(root) : 0;
            return unhandled <= 0;
          },
          {
            timeoutMs: SETTLE_MS,
            intervalMs: 500,
            message: "every order terminal, every outbox drained, no stock held, every event consumed, every command handled",
          },
        );
        settleSeconds = Math.round((Date.now() - settleStarted) / 100) / 10;
        this.note(`settled in ${settleSeconds}s`);
      } catch {
        this.note(
          `not settled after ${SETTLE_MS / 1000}s: ${pending.length} order(s) pending, ${lag} event(s) not yet consumed` +
            (this.commandBrokers ? `, ${unhandled} command(s) not yet handled` : ""),
        );
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      this.sampleRss();
      clearInterval(this.sampler);
      await this.mesh.stop();
      this.note("mesh stopped (SIGTERM)");
      const stored = readStoredState(this.mesh.dataRoot);
      const kafka = createKafkaClient({ brokers: parseBrokers(this.brokers), clientId: "shopmesh-lab-reconcile", logger: silent });
      const topics = await readKafka(kafka, this.since);
      const reconciled = reconcile(
        { acceptedOrderIds: load.acceptedOrderIds, pendingAfterSettle: pending, ledger: this.ledger, ...stored, ...topics },
        (letter: DeadLetterRecord) => this.explainers.map((explain) => explain(letter)).find((reason) => reason !== undefined),
      );
      const checks = [...reconciled.checks, ...(await this.emailChecks()), ...this.extraChecks];
      const verdict = { ok: checks.every((c) => c.ok), checks };
      this.note(`reconciliation ${verdict.ok ? "PASSED" : "FAILED"}`);
      keepData = !verdict.ok;
      const { acceptedOrderIds: _ids, ...loadSummary } = load;
      return {
        scenario: this.scenario,
        short: this.short,
        startedAt: new Date(this.started).toISOString(),
        durationSeconds: this.seconds,
        brokerPort: this.brokerPort,
        timeline: this.timeline,
        load: loadSummary,
        settleSeconds,
        peakRssMiB: this.peakRss(),
        rssSamples: this.rssSamples,
        facts: this.facts,
        verdict,
        dataRoot: verdict.ok ? undefined : this.mesh.dataRoot,
      };
    } finally {
      await this.close(!keepData);
    }
  }

  /** close releases everything the lab started (after an error, or from `finish`), removing the data unless told not to. */
  async close(removeData = true): Promise<void> {
    clearInterval(this.sampler);
    await this.load?.stop();
    await this.mesh.stop();
    this.order.close();
    this.inventory.close();
    for (const close of this.closers.splice(0)) await close();
    await this.commandBrokers?.release();
    if (this.ownsBroker) await releaseLabBroker(this.labBroker);
    if (removeData) rmSync(this.mesh.dataRoot, { recursive: true, force: true });
  }

  /**
   * emailChecks judges the customer emails of a lab with commands (none without): order's command rows and
   * notification's records, read from their databases after the mesh stopped, and every message the lab's Mailpit got.
   */
  private async emailChecks(): Promise<Check[]> {
    if (!this.commandBrokers) return [];
    const stored = readEmails(this.mesh.dataRoot);
    const mailpit = await mailpitSubjects(this.commandBrokers.mailpitUrl);
    this.facts["emails"] = {
      commands: stored.commands.length,
      notificationRows: stored.notifications.length,
      mailpitMessages: mailpit.length,
      terminalOrders: stored.orders.filter((o) => o.status !== "AWAITING_PAYMENT").length,
    };
    return reconcileEmails({ ...stored, mailpit });
  }

  private sampleRss(): void {
    const rssMiB = Object.fromEntries(Object.entries(this.mesh.rss()).map(([name, bytes]) => [name, Math.round(bytes / 2 ** 20)]));
    this.rssSamples.push({ atSeconds: this.seconds, rssMiB });
  }

  private peakRss(): Record<MeshProcessName | string, number> {
    const peak: Record<string, number> = {};
    for (const { rssMiB } of this.rssSamples) for (const [name, mib] of Object.entries(rssMiB)) peak[name] = Math.max(peak[name] ?? 0, mib);
    return peak;
  }
}

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
