/**
 * The command bus: the one way a service asks another to do something through a queue ("send the order-confirmed
 * email"), next to the event bus (events/event-bus.ts), which tells whoever listens what happened. A command has one
 * consumer that must act on it; an event has any number, each free to ignore it. Everything above this file sees
 * Command / IncomingCommand and the CommandBus interface; RabbitMQ (rabbitmq-command-bus.ts) and SNS → SQS
 * (sqs-command-bus.ts) are implementation details, chosen by COMMAND_BUS (config.ts, readCommandBusSettings).
 *
 * Delivery is at least once: a command is acknowledged only after its handler succeeded or after it was parked, so a
 * crash may deliver it again, and the bus drops a second delivery of a command id it has already handled
 * ({@link CommandLedger}). A failing handler is retried with a growing delay, then the command is parked (moved to the
 * queue's parking lot with the reason), where an operator can list it and replay it.
 *
 * Order: the commands of one subject (an order id) are handled in the order they were sent, as long as each succeeds
 * on its first delivery. Both adapters do it the same way, by having one consumer at a time per queue, handling one
 * command at a time (RabbitMQ: a single-active-consumer queue; SQS: one poller per queue, a FIFO queue on AWS). The
 * price is throughput: one queue's commands go no faster than one handler, however many replicas run (the others
 * stand by). Sharding a queue by a hash of the subject (N queues, each with its one active consumer) would scale it
 * and keep the per-subject order; it is not built yet, as a few emails a second need no more. A command that fails
 * waits out its backoff outside the queue, so the commands of the same subject sent after it overtake it: handlers of
 * commands that depend on each other must check the state they act on (docs/commands.md).
 */
import { fromBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { toOutgoingEvent, type OutgoingEvent } from "../events/event-bus.js";

/**
 * Command is one command to send. It has the CloudEvents shape of an event ({@link OutgoingEvent}: id, type, source,
 * subject, time, protobuf data, traceparent) with two meanings of its own: `id` is the idempotency key (the same
 * command sent twice, by an outbox that resends, has the same id and is handled once) and `subject`, the order id,
 * is the ordering key (commands of one subject stay in order).
 */
export type Command = OutgoingEvent;

/** IncomingCommand is a command as delivered to its handler. */
export interface IncomingCommand extends Command {
  /** queue is the command queue it came from. */
  readonly queue: string;
  /** attempt counts the handler calls for this command, this one included (1 on the first delivery). */
  readonly attempt: number;
}

/** ParkedCommand is a command in a queue's parking lot: it failed every attempt, or could not be read at all. */
export interface ParkedCommand {
  /** command is undefined when the message was malformed (no readable attributes); `raw` then says what arrived. */
  readonly command?: Command | undefined;
  /** messageId is the broker's id of the parked message (the command id when there is one). */
  readonly messageId: string;
  /** reason is why it was parked: the handler's last error, or what is wrong with the message. */
  readonly reason: string;
  /** attempts is how many handler calls it had (0 for a malformed message). */
  readonly attempts: number;
  readonly parkedAt: Date;
  /** raw lists the message's attributes or headers as they arrived, for a malformed one. */
  readonly raw?: Readonly<Record<string, string>> | undefined;
}

/**
 * QueueFigures are one command queue's counts at a moment, as the broker (and, for RabbitMQ's unacked, the consumers
 * of this process) sees them: what the event-flow panel, `/metrics` and the timeline show.
 */
export interface QueueFigures {
  readonly queue: string;
  /** ready is the messages waiting for a consumer (RabbitMQ: ready; SQS: ApproximateNumberOfMessages). */
  readonly ready: number;
  /**
   * unacked is the messages delivered and not yet acknowledged (SQS: ApproximateNumberOfMessagesNotVisible, the
   * broker's count; RabbitMQ: counted by this process's consumers, see rabbitmq-command-bus.ts).
   */
  readonly unacked: number;
  /** retrying is the failed commands waiting out their backoff (RabbitMQ: the retry queues; SQS: ...Delayed). */
  readonly retrying: number;
  /** parked is the messages in the parking lot. */
  readonly parked: number;
  /** consumers is how many consumers the broker has on the queue (RabbitMQ only; undefined on SQS, which has none). */
  readonly consumers?: number | undefined;
}

/** CommandOutcome is what became of one delivery: handled, dropped as a duplicate, retried later, or parked. */
export type CommandOutcome = "handled" | "duplicate" | "retried" | "parked";

/** CommandRetryPolicy bounds how often a failing handler is called for one command before it is parked. */
export interface CommandRetryPolicy {
  /** attempts is the total number of handler calls, the first included (1 = no retry). */
  readonly attempts: number;
  /** initialDelayMs is the wait before the second call; it doubles per attempt up to maxDelayMs. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** DEFAULT_COMMAND_RETRY: 5 calls, 1 s, 2 s, 4 s and 8 s apart, then the parking lot. */
export const DEFAULT_COMMAND_RETRY: CommandRetryPolicy = { attempts: 5, initialDelayMs: 1_000, maxDelayMs: 30_000 };

/** retryDelayMs is the backoff after the failed call number `attempt` (1-based): initial × 2^(attempt-1), capped. */
export function retryDelayMs(policy: CommandRetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
}

/**
 * CommandLedger remembers which commands a consumer has handled, so a second delivery of one is dropped. The kit's
 * implementation is the service's inbox table (sqliteCommandLedger); tests may keep it in memory.
 */
export interface CommandLedger {
  handled(consumer: string, commandId: string): boolean;
  record(consumer: string, command: Pick<Command, "id" | "type">): void;
}

/** ConsumeOptions describe one command consumer. */
export interface ConsumeOptions {
  /** queue is the command queue, e.g. `notification.email`; the bus declares it (and its retry and parking queues). */
  readonly queue: string;
  /** consumer names the handler in the ledger (`<service>.<queue>`); by default the queue's name. */
  readonly consumer?: string | undefined;
  /**
   * handle acts on one command. A throw is retried per `retry`; after the last attempt the command is parked with the
   * error's message as the reason. Throw {@link PermanentCommandError} to park at once (no retry can help).
   */
  handle(command: IncomingCommand): Promise<void>;
  readonly retry?: CommandRetryPolicy | undefined;
  /** prefetch bounds the deliveries the broker hands this consumer before it acknowledges (default 10). */
  readonly prefetch?: number | undefined;
  /** observe hears the outcome of each delivery (the kit counts them in /metrics); it must not throw. */
  readonly observe?: ((outcome: CommandOutcome) => void) | undefined;
}

/** CommandConsumer is a running consumer; close() lets the command in progress finish, then stops. */
export interface CommandConsumer {
  close(): Promise<void>;
}

/** PermanentCommandError parks a command without retrying it: a malformed command, a reference to nothing. */
export class PermanentCommandError extends Error {
  override readonly name = "PermanentCommandError";
}

/** CommandBusUnavailableError says a send or a declaration failed because the broker cannot be reached or refused. */
export class CommandBusUnavailableError extends Error {
  override readonly name = "CommandBusUnavailableError";
}

/**
 * CommandBus sends commands to queues and runs consumers on them, with retries, a parking lot and idempotency.
 *
 * Designed for what comes next (issue 12): the order service's outbox relay calls `send` (one destination per row,
 * resolved once the broker has the commands), the notification service calls `consume` from the kit, `npm run dlq`
 * calls `parked` and `replay`, and `figures` feeds the event-flow panel, `/metrics` and the timeline.
 */
export interface CommandBus {
  /** kind names the adapter, for logs: `rabbitmq` or `sqs`. */
  readonly kind: "rabbitmq" | "sqs";
  /**
   * send delivers the commands to `queue` and resolves once the broker has taken responsibility for every one of them
   * (RabbitMQ: publisher confirms on persistent messages; SNS: Publish answered). It rejects with
   * CommandBusUnavailableError, without waiting forever, when the broker cannot be reached.
   */
  send(queue: string, commands: readonly Command[]): Promise<void>;
  /** consume declares the queue (and its retry and parking queues) and starts handling its commands. */
  consume(options: ConsumeOptions): Promise<CommandConsumer>;
  /** declare creates the queue and its retry and parking queues without consuming (a sender's start-up, tests). */
  declare(queue: string, retry?: CommandRetryPolicy): Promise<void>;
  /** parked lists the commands in the queue's parking lot, oldest first, leaving them there. */
  parked(queue: string, options?: { limit?: number }): Promise<ParkedCommand[]>;
  /**
   * replay moves parked commands back to the queue as first attempts (all of them, or those whose id or message id is
   * in `ids`), keeping their ids; returns how many. A malformed message cannot be replayed: it stays parked.
   */
  replay(queue: string, options?: { ids?: readonly string[] }): Promise<number>;
  /**
   * figures reads the queue's counts (ready, unacked, retrying, parked) without declaring anything: a queue not
   * declared yet counts zero. It rejects with CommandBusUnavailableError when the broker cannot be reached.
   */
  figures(queue: string): Promise<QueueFigures>;
  /** close stops every consumer (letting the command in progress finish) and disconnects. */
  close(): Promise<void>;
}

/**
 * toCommand builds a command as {@link toOutgoingEvent} builds an event (`type` from the schema, `time` now,
 * `traceparent` the work in progress, which a relay sends on as its child), except that the id is the caller's: a
 * command's id is its idempotency key, derived from what it is about, never a fresh UUID.
 */
export function toCommand<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  attributes: { id: string; source: string; subject: string; traceparent?: string | undefined; time?: Date },
): Command {
  return toOutgoingEvent(schema, message, attributes);
}

/** decodeCommand decodes a command's data as `schema`; a command of another type is permanent: no retry helps. */
export function decodeCommand<Desc extends DescMessage>(schema: Desc, command: Pick<Command, "type" | "data">): MessageShape<Desc> {
  if (command.type !== schema.typeName) throw new PermanentCommandError(`command type "${command.type}" is not "${schema.typeName}"`);
  try {
    return fromBinary(schema, command.data);
  } catch (error) {
    throw new PermanentCommandError(`command data is not a ${schema.typeName}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
