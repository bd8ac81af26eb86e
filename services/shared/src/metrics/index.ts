/**
 * The one Prometheus metrics module of every shopmesh process (issue 11): the service kit wires it into each
 * service, the gateway into itself, and each serves it on a listener of its own (server.ts, METRICS_PORT), never
 * on the public port. Every metric name is declared in {@link METRICS}, so the alert rules in ops/prometheus can be
 * checked against what the processes really export.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { SqliteDatabase } from "../store/database.js";
import type { KafkaLagSource } from "./kafka.js";

export { KafkaLagSource, type KafkaLagSourceOptions, type KafkaSnapshot, type GroupTopics } from "./kafka.js";
export { serveMetrics, type MetricsServer } from "./server.js";

/** METRICS names every metric the processes export besides prom-client's defaults (event-loop lag among them). */
export const METRICS = {
  /** RED per RPC on a service: `method` (`/package.Service/Method`), `code` (the gRPC status name). */
  rpcDuration: "shopmesh_rpc_duration_seconds",
  /** RED per REST route at the gateway: `method`, `route` (the route template, not the raw path), `status`. */
  httpDuration: "shopmesh_http_request_duration_seconds",
  /** committed offset behind the partition's end, per `group`, `topic`, `partition`, read at scrape time. */
  consumerLag: "shopmesh_kafka_consumer_lag",
  /** 1 when the last Kafka read for this scrape answered in time, 0 when the lag and DLQ figures are missing. */
  kafkaUp: "shopmesh_kafka_metrics_up",
  /** messages retained in a `<topic>.dlq` topic (`topic` is the DLQ). */
  dlqDepth: "shopmesh_dlq_depth",
  /** outbox rows not yet on Kafka (PENDING, IN_PROGRESS, FAILED). */
  outboxBacklog: "shopmesh_outbox_backlog",
  /** age of the oldest outbox row not yet on Kafka; 0 when there is none. */
  outboxOldestAge: "shopmesh_outbox_oldest_age_seconds",
  /** events the inbox skipped as already handled, per inbox `consumer`. */
  inboxDuplicates: "shopmesh_inbox_duplicates_total",
  /** a circuit breaker's state per `breaker`: 0 closed, 1 half-open, 2 open. */
  breakerState: "shopmesh_circuit_breaker_state",
  /** inventory's reservations per `state` (HELD, COMMITTED, RELEASED). */
  reservations: "shopmesh_reservations",
  /** a command queue's messages per `queue` and `state`: ready, unacked, retrying, parked (CommandBus.figures). */
  commandQueueMessages: "shopmesh_command_queue_messages",
  /** 1 when the command broker answered this scrape's figures, 0 when they are missing. */
  commandQueueUp: "shopmesh_command_queue_metrics_up",
  /** deliveries a command consumer finished, per `queue` and `outcome`: handled, duplicate, retried, parked. */
  commandsTotal: "shopmesh_commands_total",
  /** the event-loop lag, one of prom-client's default metrics (kept on). */
  eventLoopLag: "nodejs_eventloop_lag_seconds",
} as const;

/** CommandQueueFigures is what {@link ProcessMetrics.commandQueues} reads (the command bus's QueueFigures). */
export interface CommandQueueFigures {
  readonly queue: string;
  readonly ready: number;
  readonly unacked: number;
  readonly retrying: number;
  readonly parked: number;
}

/**
 * BreakerState is how a breaker reports itself to {@link ProcessMetrics.breaker}. The names are cockatiel's
 * CircuitState members; "isolated" (held open by hand) counts as open.
 */
export type BreakerState = "closed" | "half-open" | "open" | "isolated";

/** breakerValue maps a breaker state to the gauge: 0 closed, 1 half-open, 2 open (so `== 2` is the alert). */
export function breakerValue(state: BreakerState): 0 | 1 | 2 {
  switch (state) {
    case "closed":
      return 0;
    case "half-open":
      return 1;
    case "open":
    case "isolated":
      return 2;
  }
}

/**
 * RPC_BUCKETS (seconds): a unary call here takes from under a millisecond (a cached GetOrder) to the 3 s reserve
 * bound; server streams (WatchOrder) last much longer and fall into +Inf, which is what they are.
 */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * ProcessMetrics is one process's registry: prom-client's default metrics plus those of {@link METRICS} the
 * process has. Each `…()` method registers its metric on first use, so a process exports only what it has (the
 * gateway no outbox, payment no breaker); the figures that live elsewhere (SQLite, Kafka, a breaker) are read when
 * Prometheus scrapes, never on a timer, so an idle process spends nothing on them.
 */
export class ProcessMetrics {
  readonly registry = new Registry();
  private rpcHistogram: Histogram<"method" | "code"> | undefined;
  private httpHistogram: Histogram<"method" | "route" | "status"> | undefined;
  private duplicates: Counter<"consumer"> | undefined;
  private commandCounter: Counter<"queue" | "outcome"> | undefined;
  private readonly breakers = new Map<string, () => BreakerState>();

  /** `process` labels every series (`order`, `gateway`), so one Prometheus job can scrape them all. */
  constructor(readonly process: string) {
    this.registry.setDefaultLabels({ process });
    collectDefaultMetrics({ register: this.registry });
  }

  /** observeRpc records one finished RPC (the grpc adapter calls it from Rpc.finish). */
  readonly observeRpc = (method: string, code: string, seconds: number): void => {
    this.rpcs().observe({ method, code }, seconds);
  };

  /** observeHttp records one finished REST request under its route template (the gateway's request chain). */
  readonly observeHttp = (method: string, route: string, status: number, seconds: number): void => {
    this.restRoutes().observe({ method, route, status: String(status) }, seconds);
  };

  /** rpcs registers the RPC histogram; the kit does so at start, so a scrape names it before the first call. */
  rpcs(): Histogram<"method" | "code"> {
    this.rpcHistogram ??= new Histogram({
      name: METRICS.rpcDuration,
      help: "Duration of gRPC calls served, by method and gRPC status code; its _count is the rate and the errors.",
      labelNames: ["method", "code"],
      buckets: RPC_BUCKETS,
      registers: [this.registry],
    });
    return this.rpcHistogram;
  }

  /** restRoutes registers the REST histogram (the gateway does so at start). */
  restRoutes(): Histogram<"method" | "route" | "status"> {
    this.httpHistogram ??= new Histogram({
      name: METRICS.httpDuration,
      help: "Duration of REST requests at the gateway, by HTTP method, route template and status.",
      labelNames: ["method", "route", "status"],
      buckets: RPC_BUCKETS,
      registers: [this.registry],
    });
    return this.httpHistogram;
  }

  /** inboxDuplicate counts an event the inbox skipped as already handled (inbox.ts). */
  readonly inboxDuplicate = (consumer: string): void => {
    this.inboxCounter().inc({ consumer });
  };

  /** inboxCounter registers the dedupe counter; the kit does so at start, so it reads 0 before any duplicate. */
  inboxCounter(): Counter<"consumer"> {
    this.duplicates ??= new Counter({
      name: METRICS.inboxDuplicates,
      help: "Events the inbox skipped because this consumer had already handled them (redeliveries).",
      labelNames: ["consumer"],
      registers: [this.registry],
    });
    return this.duplicates;
  }

  /**
   * outbox reads the backlog and the age of its oldest unpublished row from the process's own outbox table at each
   * scrape (the same reading as OpsService, ops-service.ts). IN_PROGRESS and FAILED count: neither is on Kafka.
   */
  outbox(db: SqliteDatabase, now: () => number = Date.now): void {
    const backlog = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM outbox WHERE state != 'PUBLISHED'`);
    const oldest = db.prepare<[], { at: string | null }>(`SELECT min(created_at) AS at FROM outbox WHERE state != 'PUBLISHED'`);
    new Gauge({
      name: METRICS.outboxBacklog,
      help: "Outbox rows not yet published to Kafka.",
      registers: [this.registry],
      collect() {
        this.set(backlog.get()?.n ?? 0);
      },
    });
    new Gauge({
      name: METRICS.outboxOldestAge,
      help: "Age in seconds of the oldest outbox row not yet published to Kafka (0 when none is waiting).",
      registers: [this.registry],
      collect() {
        const at = oldest.get()?.at ?? null;
        this.set(at === null ? 0 : Math.max(0, (now() - Date.parse(at)) / 1000));
      },
    });
  }

  /**
   * kafka exports consumer lag per group and partition and the DLQ depths from `source`, read at scrape time
   * (bounded and cached by the source). When Kafka does not answer, those series are absent for that scrape and
   * `shopmesh_kafka_metrics_up` is 0, rather than a stale or made-up number.
   */
  kafka(source: KafkaLagSource): void {
    // The three collects of one scrape run side by side; the source's single flight and cache give them one read.
    new Gauge({
      name: METRICS.kafkaUp,
      help: "1 when Kafka answered the lag and DLQ reads of this scrape in time, else 0.",
      registers: [this.registry],
      async collect() {
        this.set((await source.read()).ok ? 1 : 0);
      },
    });
    new Gauge({
      name: METRICS.consumerLag,
      help: "Messages between a consumer group's committed offset and the end of the partition.",
      labelNames: ["group", "topic", "partition"],
      registers: [this.registry],
      async collect() {
        const snapshot = await source.read();
        this.reset();
        for (const lag of snapshot.lags) this.set({ group: lag.group, topic: lag.topic, partition: String(lag.partition) }, lag.lag);
      },
    });
    new Gauge({
      name: METRICS.dlqDepth,
      help: "Messages retained in a dead-letter topic (<topic>.dlq).",
      labelNames: ["topic"],
      registers: [this.registry],
      async collect() {
        const snapshot = await source.read();
        this.reset();
        for (const dlq of snapshot.dlqs) this.set({ topic: dlq.topic }, dlq.depth);
      },
    });
  }

  /** breaker exports a circuit breaker's state, read at each scrape; 0 closed, 1 half-open, 2 open. */
  breaker(name: string, state: () => BreakerState): void {
    if (this.breakers.size === 0) {
      const breakers = this.breakers;
      new Gauge({
        name: METRICS.breakerState,
        help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
        labelNames: ["breaker"],
        registers: [this.registry],
        collect() {
          for (const [breaker, read] of breakers) this.set({ breaker }, breakerValue(read()));
        },
      });
    }
    this.breakers.set(name, state);
  }

  /** countsByState exports a gauge per `state` from a query run at scrape time (inventory's reservations). */
  countsByState(name: string, help: string, read: () => readonly { state: string; count: number }[]): void {
    new Gauge({
      name,
      help,
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { state, count } of read()) this.set({ state }, count);
      },
    });
  }

  /**
   * commandQueues exports each queue's figures (CommandBus.figures), read at scrape time: a gauge per `queue` and
   * `state`. When the broker does not answer, those series are absent for the scrape and `…_up` is 0.
   */
  commandQueues(queues: readonly string[], figures: (queue: string) => Promise<CommandQueueFigures>): void {
    // Up and the gauge read the same figures: one read per scrape, shared by the two collects.
    let read: Promise<CommandQueueFigures[] | undefined> | undefined;
    const once = () => {
      read ??= Promise.all(queues.map((queue) => figures(queue))).then(
        (all) => all,
        () => undefined,
      );
      const current = read;
      // Dropped after this scrape's collects ran, so the next scrape reads afresh.
      setImmediate(() => {
        if (read === current) read = undefined;
      });
      return current;
    };
    new Gauge({
      name: METRICS.commandQueueUp,
      help: "1 when the command broker answered the queue figures of this scrape, else 0.",
      registers: [this.registry],
      async collect() {
        this.set((await once()) === undefined ? 0 : 1);
      },
    });
    new Gauge({
      name: METRICS.commandQueueMessages,
      help: "Messages of a command queue by state: ready (waiting), unacked (delivered, not acknowledged), retrying (waiting out a backoff), parked (the parking lot).",
      labelNames: ["queue", "state"],
      registers: [this.registry],
      async collect() {
        const all = await once();
        this.reset();
        for (const f of all ?? []) {
          for (const state of ["ready", "unacked", "retrying", "parked"] as const) this.set({ queue: f.queue, state }, f[state]);
        }
      },
    });
  }

  /** commands counts command deliveries by queue and outcome (the kit passes it as the consumer's `observe`). */
  commands(): Counter<"queue" | "outcome"> {
    this.commandCounter ??= new Counter({
      name: METRICS.commandsTotal,
      help: "Command deliveries a consumer finished, by queue and outcome (handled, duplicate, retried, parked).",
      labelNames: ["queue", "outcome"],
      registers: [this.registry],
    });
    return this.commandCounter;
  }

  /** text is the exposition a scrape gets. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
