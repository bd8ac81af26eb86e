import { join } from "node:path";
import { type CommandBus, type CommandConsumer, createCommandBus, sqliteCommandLedger } from "../commands/index.js";
import type { ServiceSettings } from "../config.js";
import { subscribeHandlers } from "../events/consumer.js";
import type { EventBus, Subscription } from "../events/event-bus.js";
import { createKafkaEventBus } from "../events/kafka-event-bus.js";
import { kafkaSslOf } from "../events/kafka-tls.js";
import { Inbox, inboxSchema } from "../events/inbox.js";
import { commandPublisher, OutboxRelay, OutboxStore, outboxSchema } from "../events/outbox.js";
import { bindServer, createGrpcServer, type GrpcServer } from "../grpc/server.js";
import { createLogger, type Logger } from "../logger.js";
import { createKafkaClient } from "../events/kafka-client.js";
import { dlqTopicOf } from "../events/topics.js";
import { KafkaLagSource, ProcessMetrics, serveMetrics, type MetricsServer } from "../metrics/index.js";
import { opsService } from "../ops-service.js";
import { openDatabase, type SqliteDatabase } from "../store/database.js";
import { openMeshTransport } from "../security/mesh-transport.js";
import { hasChildren, newTrace, runWithTrace } from "../trace-context.js";
import { processInTrace } from "../tracing/messaging-spans.js";
import { SpanKind, type Spans } from "../tracing/spans.js";
import { createTracing, type Tracing } from "../tracing/tracing.js";
import { GroupMembers, groupMembersSchema } from "./group-members.js";
import { kafkaStartWait } from "./kafka-start.js";
import type { Kit, KitOverrides, RunningService, ServiceDefinition, ServiceTimer, ServiceWiring } from "./service-definition.js";
import { StopSequence, type StopStep } from "./stop-sequence.js";

/**
 * CLOSE_BUDGET_MS bounds the stop steps after the call drain: leaving the group (the batch in hand finishes, a fetch
 * long-poll ends within 1 s), the relay's last flush (5 s at most), closing the bus and the database.
 */
const CLOSE_BUDGET_MS = 15_000;

/**
 * startService starts a service the one way every service starts, the model being eShop's `AddServiceDefaults()`:
 *
 * Start, in order: the database (the service's schema plus outbox, inbox and kit tables) → the service's own parts
 * (`wire`) → the gRPC server (its services, OpsService, health, reflection) bound early, health NOT_SERVING → the
 * event bus ready (broker reachable, topics there) and the outbox relay running → the consumer group joined (a
 * member a crashed run left behind evicted first) → timers → health SERVING. Retriable Kafka errors on the way are
 * waited out (KAFKA_START_TIMEOUT_MS), said once at warn; anything else fails the start, undoing what was done.
 *
 * Stop, in order, once: see {@link stopSteps}.
 */
export async function startService<Config extends ServiceSettings, Parts>(
  definition: ServiceDefinition<Config, Parts>,
  config: Config,
  overrides: KitOverrides = {},
): Promise<RunningService<Parts>> {
  const { name } = definition;
  const logger = overrides.logger ?? createLogger(name);
  // Certificates and the policy first: a service that cannot prove who it is must not open its database or join Kafka.
  const transport = await openMeshTransport(name, config.security, logger);
  // KAFKA_TLS=1: the event bus presents the same certificate to the broker's TLS listener (the kit's own bus only).
  const kafkaSsl = kafkaSslOf(transport, config.kafkaTls && !overrides.bus);
  const closeCertificates = () => transport.close();
  let db: SqliteDatabase;
  try {
    db = openDatabase(join(config.dataDir, `${name}.db`), [...definition.schema, ...outboxSchema, ...inboxSchema, ...groupMembersSchema], {
      synchronous: config.sqliteSynchronous,
    });
  } catch (error) {
    // A database that cannot open (a read-only DATA_DIR, a corrupt file) must not leave the certificate watchers
    // running: the process would stay alive after start-up failed.
    closeCertificates();
    throw error;
  }
  // After the database, which is the last step that can fail without a stop sequence to undo what came before.
  const tracing = createTracing(config.tracing, { serviceName: name, exporter: overrides.spanExporter, logger });
  const wait = kafkaStartWait(logger, config.kafkaStartTimeoutMs);
  const bus =
    overrides.bus ??
    createKafkaEventBus({
      brokers: config.kafkaBrokers,
      clientId: `shopmesh-${name}`,
      logger,
      clientLogger: wait.clientLogger,
      ssl: kafkaSsl,
    });
  // The command bus's ledger is the inbox table, so "handled" commits beside the service's own rows.
  const commands: CommandBus | undefined =
    overrides.commandBus ??
    (definition.commandBus === undefined
      ? undefined
      : createCommandBus(definition.commandBus, { ledger: sqliteCommandLedger(db), logger, connectionName: `shopmesh-${name}` }));
  const ownCommands = overrides.commandBus ? undefined : commands;
  const outbox = new OutboxStore(db);
  const relay = new OutboxRelay(outbox, bus, { logger, spans: tracing?.spans, ...overrides.relay });
  // Command rows leave through a relay of their own (the same class, on the same table): a command broker that is down
  // backs off only its rows, and the events keep flowing to Kafka.
  const commandRelay =
    commands === undefined
      ? undefined
      : new OutboxRelay(new OutboxStore(db, "command"), commandPublisher(commands), {
          logger,
          spans: tracing?.spans,
          system: commands.kind === "rabbitmq" ? "rabbitmq" : "aws_sns",
          ...overrides.relay,
        });
  const stopping = new AbortController();
  const metrics = new ProcessMetrics(name);
  metrics.outbox(db);
  metrics.inboxCounter();
  metrics.rpcs();
  const kit: Kit<Config> = {
    name,
    config,
    logger,
    db,
    outbox,
    inbox: new Inbox(db, metrics.inboxDuplicate),
    metrics,
    relay,
    commandRelay,
    stopping: stopping.signal,
    channelCredentials: (peer) => transport.channelCredentials(peer),
    spans: tracing?.spans,
    commands,
  };

  let wiring: ServiceWiring<Parts>;
  try {
    wiring = definition.wire(kit);
  } catch (error) {
    if (!overrides.bus) await bus.close().catch(() => undefined);
    await ownCommands?.close().catch(() => undefined);
    db.close();
    closeCertificates();
    await tracing?.shutdown().catch(() => undefined);
    throw error;
  }
  const commandQueues = (wiring.handlesCommands ?? []).map((handling) => handling.queue);
  if (commands !== undefined && commandQueues.length > 0) {
    // The consumer's process reports its queues: it holds their unacked deliveries (rabbitmq-command-bus.ts).
    metrics.commandQueues(commandQueues, (queue) => commands.figures(queue));
    metrics.commands();
  }
  const grpc = createGrpcServer({
    services: [
      ...wiring.serves,
      opsService({ service: name, db, commands: commands === undefined ? undefined : { bus: commands, queues: commandQueues } }),
    ],
    logger,
    stopping: stopping.signal,
    access: transport.access,
    observe: metrics.observeRpc,
    spans: tracing?.spans,
  });
  grpc.health.setAll("NOT_SERVING");

  const members = new GroupMembers(db);
  const consumes = Object.entries(wiring.consumes ?? {});
  const topics = [...new Set([...(wiring.publishes ?? []), ...consumes.map(([topic]) => topic)])];
  const consumed = consumes.map(([topic]) => topic);
  // Lag of the service's own group, and the DLQs of the topics it consumes: those are where its consumer puts the
  // events it gave up on (kafka-event-bus.ts dead-letters to `<consumed topic>.dlq`). Other services consuming the
  // same topic dead-letter there too, so the depth is the topic's, not this service's alone. The gateway reports
  // every group and every DLQ, so a stopped service's lag is still seen.
  const lagSource = new KafkaLagSource({
    kafka: createKafkaClient({ brokers: config.kafkaBrokers, clientId: `shopmesh-${name}-metrics`, logger, ssl: kafkaSsl }),
    groups: consumed.length > 0 ? [{ groupId: config.kafkaGroupId, topics: consumed }] : [],
    dlqTopics: consumed.map(dlqTopicOf),
  });
  metrics.kafka(lagSource);
  const state: LifeState = { serving: false, subscription: undefined, commandConsumers: [], timers: [], metricsServer: undefined };
  const drainMs = overrides.drainDelayMs ?? config.shutdown.drainMs;
  const graceMs = overrides.graceMs ?? config.shutdown.graceMs;
  const sequence = new StopSequence(
    stopSteps({
      kit,
      grpc,
      state,
      members,
      stopping,
      drainMs,
      graceMs,
      ownBus: overrides.bus ? undefined : bus,
      ownCommands,
      closeOwn: wiring.close,
      closeTransport: closeCertificates,
      closeMetrics: async () => {
        await state.metricsServer?.close();
        await lagSource.close();
      },
      tracing,
    }),
    logger,
  );

  try {
    const port = await bindServer(grpc.server, `${config.host}:${config.port}`, transport.serverCredentials);
    transport.bound(grpc.server);
    const address = `${config.host}:${port}`;
    // Bound before the Kafka waits: a start stuck on the broker is exactly when its figures are worth reading.
    const metricsServer = await serveMetrics(metrics, config.host, config.metricsPort);
    state.metricsServer = metricsServer;
    // A service with no topics (notification: commands only) has nothing to wait for on Kafka.
    if (topics.length > 0) await wait.retry("event bus", async () => bus.ready?.(topics));
    relay.start();
    commandRelay?.start();
    for (const handling of wiring.handlesCommands ?? []) {
      if (commands === undefined) throw new Error(`${name} handles commands on "${handling.queue}" but its definition names no commandBus`);
      const settings = definition.commandBus;
      const handle = handling.handle;
      state.commandConsumers.push(
        await commands.consume({
          consumer: `${name}.${handling.queue}`,
          ...(settings ? { retry: settings.retry, prefetch: settings.prefetch } : {}),
          observe: (outcome) => metrics.commands().inc({ queue: handling.queue, outcome }),
          ...handling,
          // Each command is handled in the trace of the work that decided it, as an event is: with tracing on, each
          // attempt is a CONSUMER span under the relay's send, received from RabbitMQ or (the SNS adapter) from SQS.
          handle: (command) =>
            processInTrace(
              tracing?.spans,
              {
                ...command,
                system: commands.kind === "rabbitmq" ? "rabbitmq" : "aws_sqs",
                topic: command.queue,
                group: `${name}.${handling.queue}`,
              },
              () => handle(command),
            ),
        }),
      );
    }
    if (consumes.length > 0) {
      const groupId = config.kafkaGroupId;
      state.subscription = await wait.retry("consumer group", () =>
        subscribeHandlers(bus, {
          service: name,
          groupId,
          topics: consumes.map(([topic]) => topic),
          handlers: consumes.flatMap(([, handlers]) => handlers),
          retry: config.eventRetry,
          fromBeginning: config.kafkaFromBeginning,
          staleMembers: members.stale(groupId),
          onGroupJoin: (memberId) => rememberJoin(members, groupId, memberId, logger),
          logger,
          spans: tracing?.spans,
        }),
      );
    }
    wait.done();
    state.timers = (wiring.timers ?? []).map((timer) => startTimer(timer, logger, tracing?.spans));
    grpc.health.setAll("SERVING");
    state.serving = true;
    logger.info(
      {
        address,
        metrics: metricsServer.url,
        kafka: kafkaSsl ? "TLS" : "plaintext",
        groupId: config.kafkaGroupId,
        consumes: topics.filter((t) => wiring.consumes?.[t]),
        publishes: wiring.publishes,
      },
      `${name} serving (${transport.mode === "mtls" ? "mTLS, access policy enforced" : "PLAINTEXT, MESH_INSECURE=1"})`,
    );
    return {
      name,
      address,
      port,
      metricsUrl: metricsServer.url,
      metrics,
      db,
      relay,
      commandRelay,
      logger,
      parts: wiring.parts,
      flushSpans: async () => tracing?.flush(),
      stop: () => sequence.run(),
      stopBudgetMs: drainMs + graceMs + CLOSE_BUDGET_MS,
      stopProgress: () => sequence.current,
    };
  } catch (error) {
    wait.done();
    await sequence.run().catch(() => undefined);
    throw error;
  }
}

/** LifeState is what start-up has brought up so far, for the stop to take down. */
interface LifeState {
  serving: boolean;
  subscription: Subscription | undefined;
  commandConsumers: CommandConsumer[];
  timers: NodeJS.Timeout[];
  metricsServer: MetricsServer | undefined;
}

interface StopParts<Config extends ServiceSettings> {
  readonly kit: Kit<Config>;
  readonly grpc: GrpcServer;
  readonly state: LifeState;
  readonly members: GroupMembers;
  readonly stopping: AbortController;
  readonly drainMs: number;
  readonly graceMs: number;
  /** ownBus is the bus the kit built, to close; undefined when the caller's. */
  readonly ownBus: EventBus | undefined;
  /** ownCommands is the command bus the kit built, to close; undefined when the caller's or none. */
  readonly ownCommands: CommandBus | undefined;
  readonly closeOwn: (() => void | Promise<void>) | undefined;
  readonly closeTransport: () => void;
  readonly closeMetrics: () => Promise<void>;
  readonly tracing: Tracing | undefined;
}

/**
 * stopSteps is the stop, in order: health NOT_SERVING → the drain delay, so health watchers and load balancers see it
 * while the port still answers → `stopping` aborts: open streams end with UNAVAILABLE "shutting down" and timers
 * stop → unary calls drain (tryShutdown, cancelled after the grace) → the consumer leaves its group, committing its
 * offsets → the relay flushes → the bus, the service's own clients and the database close.
 *
 * The group is left before the relay's last flush, not after: until it has left, a handler may still be running and
 * writing outbox rows (a payment authorized, stock committed); flushing afterwards sends those too, instead of
 * leaving them for the next start.
 */
function stopSteps<Config extends ServiceSettings>(parts: StopParts<Config>): StopStep[] {
  const { kit, grpc, state, members, stopping, drainMs, graceMs } = parts;
  const { logger, config } = kit;
  return [
    { name: "health NOT_SERVING", run: () => grpc.health.setAll("NOT_SERVING") },
    { name: "drain delay", run: () => (state.serving ? delay(drainMs) : undefined) },
    {
      name: "end streams and timers",
      run: () => {
        stopping.abort();
        for (const timer of state.timers) clearInterval(timer);
      },
    },
    { name: "drain calls", run: () => drainCalls(grpc, graceMs, logger) },
    {
      name: "leave the consumer group",
      run: async () => {
        if (state.subscription === undefined) return;
        await state.subscription.close();
        members.left(config.kafkaGroupId);
        logger.info({ groupId: config.kafkaGroupId }, "left the consumer group");
      },
    },
    {
      // Like leaving the group: a command in progress may still write rows, which the relay's flush then sends.
      name: "stop the command consumers",
      run: async () => {
        await Promise.all(state.commandConsumers.splice(0).map((consumer) => consumer.close()));
      },
    },
    {
      name: "flush the outbox relay",
      run: async () => {
        const [left, commandsLeft = 0] = await Promise.all([kit.relay.stop(), kit.commandRelay?.stop()]);
        logger.info(
          { left, commandsLeft },
          left + commandsLeft === 0 ? "outbox flushed" : "outbox not fully flushed; the rest goes at the next start",
        );
      },
    },
    { name: "close the event bus", run: () => parts.ownBus?.close() },
    { name: "close the command bus", run: () => parts.ownCommands?.close() },
    { name: "close the service's clients", run: () => parts.closeOwn?.() },
    { name: "stop watching certificates", run: () => parts.closeTransport() },
    // Scrapes read the outbox: the listener closes before the database does.
    { name: "close the metrics listener", run: () => parts.closeMetrics() },
    {
      name: "close the database",
      run: () => {
        kit.db.close();
        logger.info("database closed");
      },
    },
    // Last: every call and event has ended by now, so their spans are all in the batch this flushes.
    { name: "flush traces", run: () => parts.tracing?.shutdown() },
  ];
}

/** drainCalls stops accepting and lets calls in flight finish; after `graceMs` it cancels what is left. */
function drainCalls(grpc: GrpcServer, graceMs: number, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      logger.warn({ graceMs }, "calls still running after the grace (SHUTDOWN_GRACE_MS); cancelling them");
      grpc.server.forceShutdown();
      resolve();
    }, graceMs);
    grpc.server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/**
 * startTimer runs a background job every `everyMs`, each tick in a trace of its own. With tracing on, a tick that
 * caused anything (a call, an outbox row) records an INTERNAL span `tick <name>` afterwards, dated from its start, so
 * what it caused hangs under a span Zipkin has; the many ticks that find nothing to do record none.
 */
function startTimer(timer: ServiceTimer, logger: Logger, spans: Spans | undefined): NodeJS.Timeout {
  const handle = setInterval(() => {
    const tick = newTrace();
    const startedAt = new Date();
    const ended = () => {
      if (spans !== undefined && hasChildren(tick)) {
        spans.start(SpanKind.INTERNAL, `tick ${timer.name}`, tick, undefined, { "shop.timer": timer.name }, false, startedAt).end();
      }
    };
    const failed = (error: unknown) => {
      ended();
      logger.error({ err: error, timer: timer.name }, "background timer failed");
    };
    try {
      Promise.resolve(runWithTrace(tick, () => timer.run())).then(ended, failed);
    } catch (error) {
      failed(error);
    }
  }, timer.everyMs);
  handle.unref();
  return handle;
}

function rememberJoin(members: GroupMembers, groupId: string, memberId: string, logger: Logger): void {
  try {
    members.joined(groupId, memberId);
  } catch (error) {
    // Only costs a faster restart after a crash; never worth failing the consumer for.
    logger.warn({ err: error, groupId, memberId }, "could not record the group member id");
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
