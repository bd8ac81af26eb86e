/**
 * The command bus on RabbitMQ (AMQP 0-9-1, `rabbitmq-client`). Per command queue Q:
 *
 *   exchange `shop.commands` (direct) --Q--> queue Q (durable, single active consumer)
 *   queue `Q.retry.<delay>ms` (one per backoff step, x-message-ttl = delay) --dead-letter to "" with key Q--> queue Q
 *   queue `Q.parked`: the parking lot, read by `parked` and emptied by `replay`
 *
 * A failed command is republished to the retry queue of its next delay with its attempt count in `x-attempt`, then
 * acknowledged; when the TTL runs out RabbitMQ dead-letters it back to Q. One retry queue per delay, not one queue with
 * per-message TTLs: RabbitMQ expires messages only at a queue's head, so a long TTL would hold up the short ones behind
 * it. (A quorum queue's delivery limit would count attempts by itself, but redelivers at once, with no backoff.)
 * Sends use publisher confirms on persistent messages: `send` resolves once RabbitMQ has them on disk. The consumer
 * acknowledges by hand, one command at a time (concurrency 1, bounded prefetch), after its handler, its retry or its
 * parking: a crash redelivers, and the ledger drops what was already handled.
 *
 * `figures` reads the counts with AMQP's passive queue.declare, which answers the ready messages and the consumers of
 * a queue. Unacked (delivered, not yet acknowledged) is not in that answer, only in the management plugin's HTTP API;
 * scripts/rabbitmq.sh runs without the plugin on purpose (it adds seconds to every start, of `npm start`, every test
 * run and CI), so the consumers count it themselves: the deliveries a consumer of this process holds (prefetched and
 * in its handler), from rabbitmq-client's own stats. That is the broker's figure for the queue as long as the queue's
 * consumers are this process's, which single active consumer makes true of the one that matters: a standby replica
 * holds nothing, and the process that reports (the consumer's own) is the one holding the deliveries.
 */
import { type AsyncMessage, Connection, type Consumer, ConsumerStatus, type Publisher, type SyncMessage } from "rabbitmq-client";
import type { Logger } from "../logger.js";
import {
  type Command,
  type CommandBus,
  type CommandOutcome,
  CommandBusUnavailableError,
  type CommandConsumer,
  type CommandLedger,
  type CommandRetryPolicy,
  type ConsumeOptions,
  DEFAULT_COMMAND_RETRY,
  type ParkedCommand,
  PermanentCommandError,
  type QueueFigures,
  retryDelayMs,
} from "./command-bus.js";
import { errorReason, fromCommandHeaders, MalformedCommandError, toCommandHeaders } from "./codec.js";

/** COMMAND_EXCHANGE routes each command to the queue its routing key names. */
export const COMMAND_EXCHANGE = "shop.commands";
const PROTOBUF = "application/protobuf";

export interface RabbitCommandBusOptions {
  /** url: amqp://user:password@host:port/vhost */
  readonly url: string;
  readonly ledger: CommandLedger;
  readonly logger?: Logger | undefined;
  /** sendTimeoutMs bounds how long a send waits for a connection before it fails (default 5000). */
  readonly sendTimeoutMs?: number | undefined;
  /** name shows in RabbitMQ's connection list (e.g. the service). */
  readonly connectionName?: string | undefined;
}

/** parkedQueue and retryQueue name the queues beside a command queue. */
export const parkedQueue = (queue: string): string => `${queue}.parked`;
export const retryQueue = (queue: string, delayMs: number): string => `${queue}.retry.${delayMs}ms`;

/** headerText turns an AMQP header value (string, number, Buffer, ...) into the string the codec reads. */
function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value);
}

function stringHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) out[name] = text;
  }
  return out;
}

/** bodyBytes: the data of a delivery; rabbitmq-client decodes text and JSON content types, which a command never has. */
function bodyBytes(body: unknown): Uint8Array {
  if (Buffer.isBuffer(body)) return new Uint8Array(body);
  if (typeof body === "string") return new Uint8Array(Buffer.from(body));
  throw new MalformedCommandError("body is not bytes (content-type is not application/protobuf)");
}

export function createRabbitCommandBus(options: RabbitCommandBusOptions): CommandBus {
  const { ledger, logger } = options;
  const rabbit = new Connection({
    url: options.url,
    connectionName: options.connectionName,
    acquireTimeout: options.sendTimeoutMs ?? 5_000,
    // Reconnect within a second or two of the broker coming back: retries of the client's own, with backoff.
    retryLow: 200,
    retryHigh: 2_000,
  });
  let lastConnectionError: string | undefined;
  rabbit.on("error", (error: unknown) => {
    const text = errorReason(error);
    // Logged once per outage, not on every reconnect attempt.
    if (text !== lastConnectionError) logger?.warn({ err: error }, "RabbitMQ connection error; reconnecting");
    lastConnectionError = text;
  });
  rabbit.on("connection", () => {
    if (lastConnectionError !== undefined) logger?.info("RabbitMQ connection restored");
    lastConnectionError = undefined;
  });

  // One confirming publisher for sends, retries, parking and replays: each publish resolves on the broker's ack.
  const publisher: Publisher = rabbit.createPublisher({
    confirm: true,
    exchanges: [{ exchange: COMMAND_EXCHANGE, type: "direct", durable: true }],
  });
  const consumers = new Set<Consumer>();
  /** holding counts, per queue, the deliveries each consumer of this process holds unacknowledged (figures). */
  const holding = new Map<string, Set<() => number>>();
  /** retryDelays are the backoff steps whose retry queues `declare` made, per queue (figures sums them). */
  const retryDelays = new Map<string, readonly number[]>();
  const declared = new Set<string>();
  rabbit.on("connection", () => declared.clear());

  const unavailable = (what: string, error: unknown): CommandBusUnavailableError =>
    new CommandBusUnavailableError(`${what}: RabbitMQ at ${redact(options.url)}: ${errorReason(error)}`, { cause: error });

  /** The main queue's declaration: the sender's and the consumer's must agree, or RabbitMQ refuses the second. */
  const mainQueue = (queue: string) => ({ queue, durable: true, arguments: { "x-single-active-consumer": true } });

  async function declareMain(queue: string): Promise<void> {
    if (declared.has(queue)) return;
    await rabbit.exchangeDeclare({ exchange: COMMAND_EXCHANGE, type: "direct", durable: true });
    await rabbit.queueDeclare(mainQueue(queue));
    await rabbit.queueBind({ queue, exchange: COMMAND_EXCHANGE, routingKey: queue });
    await rabbit.queueDeclare({ queue: parkedQueue(queue), durable: true });
    declared.add(queue);
  }

  async function declare(queue: string, retry: CommandRetryPolicy = DEFAULT_COMMAND_RETRY): Promise<void> {
    try {
      await declareMain(queue);
      retryDelays.set(queue, delaysOf(retry));
      for (let attempt = 1; attempt < retry.attempts; attempt++) {
        const delay = retryDelayMs(retry, attempt);
        await rabbit.queueDeclare({
          queue: retryQueue(queue, delay),
          durable: true,
          arguments: { "x-message-ttl": delay, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue },
        });
      }
    } catch (error) {
      throw unavailable(`declaring command queue ${queue}`, error);
    }
  }

  async function send(queue: string, commands: readonly Command[]): Promise<void> {
    try {
      await declareMain(queue);
      // Published together on the publisher's one confirm channel, then every confirm awaited: AMQP keeps a channel's
      // publishes in order, so the commands of one subject reach the queue in the order sent without a round trip per
      // command (awaiting each confirm before the next capped the relay at about 780 commands/s, bench P7). A batch
      // with a publish the broker refused fails as a whole and the relay sends it all again: the ledger drops what
      // was already handled, and only a command after the refused one can then arrive before it.
      await Promise.all(
        commands.map((command) =>
          publisher.send(
            {
              exchange: COMMAND_EXCHANGE,
              routingKey: queue,
              durable: true,
              messageId: command.id,
              type: command.type,
              contentType: PROTOBUF,
              timestamp: Math.floor(command.time.getTime() / 1000),
              headers: { ...toCommandHeaders(command), "x-attempt": 1 },
            },
            Buffer.from(command.data),
          ),
        ),
      );
    } catch (error) {
      throw unavailable(`sending ${commands.length} command(s) to ${queue}`, error);
    }
  }

  /** park moves a delivery to the parking lot with why, keeping its body and headers as they arrived. */
  async function park(queue: string, msg: AsyncMessage, reason: string, attempts: number): Promise<void> {
    await publisher.send(
      {
        exchange: "",
        routingKey: parkedQueue(queue),
        durable: true,
        messageId: msg.messageId,
        type: msg.type,
        contentType: msg.contentType,
        timestamp: msg.timestamp,
        headers: { ...msg.headers, "x-parked-reason": reason, "x-parked-at": new Date().toISOString(), "x-attempts": attempts },
      },
      msg.body,
    );
  }

  async function consume(consumeOptions: ConsumeOptions): Promise<CommandConsumer> {
    const { queue, handle } = consumeOptions;
    const retry = consumeOptions.retry ?? DEFAULT_COMMAND_RETRY;
    const consumerName = consumeOptions.consumer ?? queue;
    await declare(queue, retry);
    const observe = (outcome: CommandOutcome) => consumeOptions.observe?.(outcome);
    let inHandler = 0;

    const onMessage = async (msg: AsyncMessage): Promise<ConsumerStatus> => {
      inHandler++;
      try {
        return await handleMessage(msg);
      } finally {
        inHandler--;
      }
    };

    const handleMessage = async (msg: AsyncMessage): Promise<ConsumerStatus> => {
      const headers = stringHeaders(msg.headers);
      let command: Command;
      try {
        command = fromCommandHeaders(headers, bodyBytes(msg.body));
      } catch (error) {
        if (!(error instanceof MalformedCommandError)) throw error;
        logger?.warn({ queue, messageId: msg.messageId, reason: error.message }, "malformed command parked");
        await park(queue, msg, `malformed: ${error.message}`, 0);
        observe("parked");
        return ConsumerStatus.ACK;
      }
      if (ledger.handled(consumerName, command.id)) {
        logger?.debug({ queue, commandId: command.id }, "command already handled; dropped");
        observe("duplicate");
        return ConsumerStatus.ACK;
      }
      const attempt = Math.max(1, Number(headers["x-attempt"] ?? 1) || 1);
      try {
        await handle({ ...command, queue, attempt });
        ledger.record(consumerName, command);
        observe("handled");
        return ConsumerStatus.ACK;
      } catch (error) {
        const reason = errorReason(error);
        if (error instanceof PermanentCommandError || attempt >= retry.attempts) {
          logger?.warn({ queue, commandId: command.id, attempt, reason }, "command parked");
          await park(queue, msg, reason, attempt);
          observe("parked");
          return ConsumerStatus.ACK;
        }
        const delay = retryDelayMs(retry, attempt);
        logger?.info({ queue, commandId: command.id, attempt, delayMs: delay, reason }, "command failed; retrying after a delay");
        await publisher.send(
          {
            exchange: "",
            routingKey: retryQueue(queue, delay),
            durable: true,
            messageId: msg.messageId,
            type: msg.type,
            contentType: msg.contentType,
            timestamp: msg.timestamp,
            headers: { ...msg.headers, "x-attempt": attempt + 1, "x-last-error": reason },
          },
          msg.body,
        );
        observe("retried");
        return ConsumerStatus.ACK;
      }
    };

    const consumer = rabbit.createConsumer(
      {
        queue,
        queueOptions: mainQueue(queue),
        // One command at a time, in queue order: the per-subject order (command-bus.ts). Prefetch bounds what waits here.
        concurrency: 1,
        qos: { prefetchCount: consumeOptions.prefetch ?? 10 },
        // A throw here means the retry or parking publish failed (broker gone): put the command back, lose nothing.
        requeue: true,
      },
      onMessage,
    );
    consumer.on("error", (error: unknown) => logger?.warn({ err: error, queue }, "command consumer error"));
    consumers.add(consumer);
    const held = () => consumer.stats.prefetched + inHandler;
    const holders = holding.get(queue) ?? new Set<() => number>();
    holders.add(held);
    holding.set(queue, holders);
    // Started when RabbitMQ has registered it, so a send right after `consume` resolves reaches a live consumer.
    await new Promise<void>((resolve) => consumer.once("ready", () => resolve()));
    return {
      close: async () => {
        consumers.delete(consumer);
        holders.delete(held);
        await consumer.close();
      },
    };
  }

  /** drainParked gets every message of the parking lot unacknowledged on a channel of its own, for `visit`. */
  async function drainParked(
    queue: string,
    limit: number,
    visit: (msg: SyncMessage, ack: () => Promise<void>) => Promise<void>,
  ): Promise<void> {
    await declareMain(queue);
    const channel = await rabbit.acquire();
    try {
      for (let count = 0; count < limit; count++) {
        const msg = await channel.basicGet({ queue: parkedQueue(queue), noAck: false });
        if (msg === undefined) break;
        await visit(msg, async () => channel.basicAck({ deliveryTag: msg.deliveryTag }));
      }
    } finally {
      // Closing the channel returns what was not acknowledged to the parking lot, in its place.
      await channel.close();
    }
  }

  async function parked(queue: string, parkedOptions: { limit?: number } = {}): Promise<ParkedCommand[]> {
    const out: ParkedCommand[] = [];
    try {
      await drainParked(queue, parkedOptions.limit ?? 1_000, async (msg) => {
        const headers = stringHeaders(msg.headers);
        let command: Command | undefined;
        try {
          command = fromCommandHeaders(headers, bodyBytes(msg.body));
        } catch {
          command = undefined;
        }
        out.push({
          command,
          messageId: msg.messageId ?? command?.id ?? "",
          reason: headers["x-parked-reason"] ?? "",
          attempts: Number(headers["x-attempts"] ?? 0),
          parkedAt: new Date(headers["x-parked-at"] ?? 0),
          raw: command === undefined ? headers : undefined,
        });
      });
    } catch (error) {
      throw unavailable(`listing the parking lot of ${queue}`, error);
    }
    return out;
  }

  async function replay(queue: string, replayOptions: { ids?: readonly string[] } = {}): Promise<number> {
    const wanted = replayOptions.ids ? new Set(replayOptions.ids) : undefined;
    let replayed = 0;
    try {
      await drainParked(queue, Number.MAX_SAFE_INTEGER, async (msg, ack) => {
        const headers = stringHeaders(msg.headers);
        let command: Command;
        try {
          command = fromCommandHeaders(headers, bodyBytes(msg.body));
        } catch {
          return; // malformed: nothing to replay it as; it stays parked
        }
        if (wanted && !wanted.has(command.id) && !wanted.has(msg.messageId ?? "")) return;
        await send(queue, [command]);
        await ack();
        replayed++;
      });
    } catch (error) {
      if (error instanceof CommandBusUnavailableError) throw error;
      throw unavailable(`replaying the parking lot of ${queue}`, error);
    }
    return replayed;
  }

  async function figures(queue: string): Promise<QueueFigures> {
    let channel: Awaited<ReturnType<Connection["acquire"]>> | undefined;
    /** count is a queue's ready messages and consumers; a queue not declared yet (404, which closes the channel) is 0. */
    const count = async (name: string) => {
      channel ??= await rabbit.acquire();
      try {
        return await channel.queueDeclare({ queue: name, passive: true });
      } catch (error) {
        if ((error as { code?: string }).code !== "NOT_FOUND") throw error;
        channel = undefined;
        return { messageCount: 0, consumerCount: 0 };
      }
    };
    try {
      const main = await count(queue);
      const parked = await count(parkedQueue(queue));
      let retrying = 0;
      for (const delay of retryDelays.get(queue) ?? delaysOf(DEFAULT_COMMAND_RETRY)) {
        retrying += (await count(retryQueue(queue, delay))).messageCount;
      }
      let unacked = 0;
      for (const held of holding.get(queue) ?? []) unacked += held();
      return { queue, ready: main.messageCount, unacked, retrying, parked: parked.messageCount, consumers: main.consumerCount };
    } catch (error) {
      throw unavailable(`reading the figures of ${queue}`, error);
    } finally {
      await channel?.close().catch(() => undefined);
    }
  }

  async function close(): Promise<void> {
    await Promise.all([...consumers].map((consumer) => consumer.close()));
    consumers.clear();
    await publisher.close();
    await rabbit.close();
  }

  return { kind: "rabbitmq", send, consume, declare, parked, replay, figures, close };
}

/** delaysOf lists a retry policy's distinct backoff steps: one retry queue each. */
function delaysOf(retry: CommandRetryPolicy): number[] {
  const delays = new Set<number>();
  for (let attempt = 1; attempt < retry.attempts; attempt++) delays.add(retryDelayMs(retry, attempt));
  return [...delays];
}

/** redact drops the password from an AMQP URL for messages and logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(invalid URL)";
  }
}
