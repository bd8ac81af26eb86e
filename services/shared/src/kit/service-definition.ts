import type { ChannelCredentials } from "@grpc/grpc-js";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { CommandBus, ConsumeOptions } from "../commands/command-bus.js";
import type { CommandBusSettings, ServiceSettings } from "../config.js";
import type { MeshServiceName } from "../security/identity.js";
import type { EventHandler } from "../events/consumer.js";
import type { EventBus } from "../events/event-bus.js";
import type { Inbox } from "../events/inbox.js";
import type { OutboxRelay, OutboxRelayOptions, OutboxStore } from "../events/outbox.js";
import type { ServiceRegistration } from "../grpc/server.js";
import type { Logger } from "../logger.js";
import type { ProcessMetrics } from "../metrics/index.js";
import type { Stoppable } from "../runtime.js";
import type { SchemaStep, SqliteDatabase } from "../store/database.js";
import type { Spans } from "../tracing/spans.js";

/**
 * ServiceDefinition is all a service declares about itself; the kit ({@link startService}) gives it everything
 * every service has. A new service is one of these in its `app.ts`.
 */
export interface ServiceDefinition<Config extends ServiceSettings, Parts> {
  /**
   * name names the service everywhere the kit does: its logger, its database file (`<name>.db` in DATA_DIR), its
   * Kafka client (`shopmesh-<name>`), its events' `source` (`shopmesh/<name>`) and its inbox (`<name>.<event-name>`).
   */
  readonly name: string;
  /** schema is the service's own tables; the kit adds the outbox, the inbox and its own. */
  readonly schema: readonly SchemaStep[];
  /**
   * commandBus, for a service that sends or consumes commands (services/shared/src/commands), names the broker
   * (readCommandBusSettings): the kit builds the bus with the service's inbox table as its ledger, runs the
   * wiring's command consumers and closes it at the stop. Services without it never connect to a command broker.
   */
  readonly commandBus?: CommandBusSettings | undefined;
  /** wire builds the service's parts from what the kit provides, and says what it serves, consumes and publishes. */
  wire(kit: Kit<Config>): ServiceWiring<Parts>;
}

/** Kit is what every service gets from the kit, ready to use when `wire` runs. */
export interface Kit<Config extends ServiceSettings> {
  readonly name: string;
  readonly config: Config;
  readonly logger: Logger;
  /** db is the service's own SQLite database, its schema and the outbox, inbox and kit tables applied. */
  readonly db: SqliteDatabase;
  /** outbox records events in the business transaction; `relay.notify()` after the commit sends them sooner. */
  readonly outbox: OutboxStore;
  readonly inbox: Inbox;
  readonly relay: OutboxRelay;
  /**
   * commandRelay sends the outbox's command rows (`outbox.addCommand`) through the command bus; undefined without
   * one. Wake it after a commit that wrote a command, as `relay` after one that wrote an event.
   */
  readonly commandRelay: OutboxRelay | undefined;
  /**
   * metrics is the process's Prometheus registry, served at `/metrics` on METRICS_PORT. The kit already exports RPC
   * RED, consumer lag, DLQ depth, the outbox, inbox dedupe hits and the defaults; a service adds what is its own
   * (order's breaker, inventory's reservations).
   */
  readonly metrics: ProcessMetrics;
  /**
   * stopping aborts once the service begins to stop (after health said NOT_SERVING for the drain delay). Every
   * streaming RPC's `ctx.signal` already aborts with it; anything else long-lived of the service's own listens here.
   */
  readonly stopping: AbortSignal;
  /**
   * channelCredentials are what a client of another mesh service dials with: mTLS with this service's own
   * certificate, accepting only `peer`'s identity (or plaintext under MESH_INSECURE=1).
   */
  channelCredentials(peer: MeshServiceName): ChannelCredentials;
  /**
   * spans are the service's tracer when tracing is on (TRACING, or a test's `spanExporter`), undefined when off: a
   * client of another service gets them in its ClientOptions, so each of its calls has a CLIENT span.
   */
  readonly spans: Spans | undefined;
  /** commands is the command bus when the definition names one (or a test shares one), else undefined. */
  readonly commands: CommandBus | undefined;
}

/**
 * CommandHandling is one command consumer a service runs: ConsumeOptions whose retry and prefetch default to the
 * definition's COMMAND_RETRY_* and COMMAND_PREFETCH.
 */
export type CommandHandling = ConsumeOptions;

/** ServiceWiring is what a service declares: what it serves, consumes, publishes and runs on a timer. */
export interface ServiceWiring<Parts> {
  /** serves are the gRPC services (each from `implement(...)`); the kit adds OpsService, health and reflection. */
  readonly serves: readonly ServiceRegistration[];
  /**
   * consumes maps each topic the service reads to its handlers, one per event type. The kit subscribes them as one
   * consumer group (`KAFKA_GROUP_ID`, default `shopmesh-<name>`) with the EVENT_RETRY_* policy, each event handled in
   * its trace and under its handler's inbox name.
   */
  // Handlers of different event types; the variance of MessageShape needs `any` here.
  readonly consumes?: Readonly<Record<string, readonly EventHandler[]>>;
  /**
   * handlesCommands are the service's command consumers (the definition must name a commandBus). The kit starts them
   * after the outbox relay, before SERVING, and stops them (the command in progress finishes) before the relay's
   * last flush, like the consumer group.
   */
  readonly handlesCommands?: readonly CommandHandling[];
  /** publishes lists the topics its outbox rows go to; start-up waits until they (and the consumed ones) exist. */
  readonly publishes?: readonly string[];
  /** timers run in the background from SERVING until the stop begins, each tick in a trace of its own. */
  readonly timers?: readonly ServiceTimer[];
  /** close releases what the service opened itself (clients of other services), after the bus and before the DB. */
  close?(): void | Promise<void>;
  /** parts are handed back to the caller of startService (tests reach the service's internals through them). */
  readonly parts: Parts;
}

/** ServiceTimer is a background job of a service, e.g. inventory's sweep of expired reservations. */
export interface ServiceTimer {
  readonly name: string;
  readonly everyMs: number;
  run(): unknown;
}

/** KitOverrides let tests (and tools) swap what the kit would build from the config. */
export interface KitOverrides {
  readonly logger?: Logger | undefined;
  /** bus, when given, is shared with the caller: the service uses it but does not close it. */
  readonly bus?: EventBus | undefined;
  /** commandBus, when given, is shared with the caller like `bus`: used, not closed. */
  readonly commandBus?: CommandBus | undefined;
  readonly relay?: OutboxRelayOptions | undefined;
  /** graceMs overrides SHUTDOWN_GRACE_MS. */
  readonly graceMs?: number | undefined;
  /** drainDelayMs overrides SHUTDOWN_DRAIN_MS. */
  readonly drainDelayMs?: number | undefined;
  /** spanExporter, when given, receives the service's spans whatever TRACING says (an InMemorySpanExporter in tests). */
  readonly spanExporter?: SpanExporter | undefined;
}

/** RunningService is a started service: where it listens, its database and parts, and its graceful stop. */
export interface RunningService<Parts> extends Stoppable {
  readonly name: string;
  /** address is `host:port`, the real port when PORT=0. */
  readonly address: string;
  readonly port: number;
  /** metricsUrl is `http://host:port/metrics`, the real port when METRICS_PORT=0. */
  readonly metricsUrl: string;
  readonly metrics: ProcessMetrics;
  readonly db: SqliteDatabase;
  readonly relay: OutboxRelay;
  readonly commandRelay: OutboxRelay | undefined;
  readonly logger: Logger;
  readonly parts: Parts;
  /** flushSpans exports every span ended so far (tests read an in-memory exporter after it); a no-op when tracing is off. */
  flushSpans(): Promise<void>;
  /** stop runs the stop sequence once; a second call returns the same promise. */
  stop(): Promise<void>;
  readonly stopBudgetMs: number;
  stopProgress(): string | undefined;
}
