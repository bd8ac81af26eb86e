import type { Attributes } from "@opentelemetry/api";
import { continueTrace, runWithTrace, type TraceContext } from "../trace-context.js";
import { SpanKind, SpanStatusCode, type Span, type Spans } from "./spans.js";

/**
 * The event spans of the kit, after OpenTelemetry's messaging semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/messaging/kafka/): a PRODUCER span `send <topic>` per event the outbox
 * relay publishes and a CONSUMER span `process <topic>` per handler attempt, so a trace runs from the call that wrote
 * the outbox row, through Kafka, into the handler, and retries show as sibling attempts.
 *
 * The attribute names are written out rather than imported: they live in semantic-conventions' `incubating` entry
 * point, which its authors say may change in a minor release and advise copying instead.
 */
const MESSAGING = {
  system: "messaging.system",
  operationType: "messaging.operation.type",
  destination: "messaging.destination.name",
  messageId: "messaging.message.id",
  key: "messaging.kafka.message.key",
  group: "messaging.consumer.group.name",
  partition: "messaging.destination.partition.id",
  offset: "messaging.kafka.offset",
} as const;

/** EVENT_TYPE is the CloudEvents type of the event (`ce_type`), after OpenTelemetry's CloudEvents conventions. */
const EVENT_TYPE = "cloudevents.event_type";

/**
 * MessagingSystem is `messaging.system` as OpenTelemetry spells it: Kafka for events, RabbitMQ or SNS -> SQS (the
 * command bus's adapters: sent to SNS, received from SQS) for commands.
 */
export type MessagingSystem = "kafka" | "rabbitmq" | "aws_sns" | "aws_sqs";

/** SentEvent is what a PRODUCER span describes: one outbox row as the relay published it. */
export interface SentEvent {
  /** topic is the destination: a Kafka topic, or a command queue. */
  readonly topic: string;
  /** system is the broker it went to; `kafka` when unset. */
  readonly system?: MessagingSystem | undefined;
  readonly id: string;
  readonly type: string;
  readonly subject: string;
  /** writtenAt is when the business transaction wrote the row: the span covers its stay in the outbox. */
  readonly writtenAt: Date;
  /** attempts counts the publishes of this row, this one included (more than 1: the broker was down or slow). */
  readonly attempts: number;
  /** lastError is why the previous attempt failed, when one did. */
  readonly lastError?: string | null | undefined;
  readonly partition?: number | undefined;
  readonly offset?: string | undefined;
}

/**
 * recordSend records the PRODUCER span of an event the relay has just published, after the fact: `own` is the
 * context its `traceparent` header carried, `writer` the span that wrote the row (its parent). The span starts when
 * the row was written, so an event held back by a broker outage shows as one long send with its attempt count.
 * Failed attempts record no span of their own: each would need ids of its own, and the row's last error is kept.
 */
export function recordSend(spans: Spans, event: SentEvent, own: TraceContext, writer: TraceContext | undefined): void {
  const system = event.system ?? "kafka";
  const attributes: Attributes = {
    [MESSAGING.system]: system,
    [MESSAGING.operationType]: "send",
    [MESSAGING.destination]: event.topic,
    [MESSAGING.messageId]: event.id,
    // The subject is the ordering key either way; only Kafka has a message key attribute to carry it.
    ...(system === "kafka" ? { [MESSAGING.key]: event.subject } : { "shop.command.subject": event.subject }),
    [EVENT_TYPE]: event.type,
    "shop.outbox.attempts": event.attempts,
    ...(event.lastError ? { "shop.outbox.last_error": event.lastError } : {}),
    ...(event.partition === undefined ? {} : { [MESSAGING.partition]: String(event.partition) }),
    ...(event.offset === undefined ? {} : { [MESSAGING.offset]: Number(event.offset) }),
  };
  spans.start(SpanKind.PRODUCER, `send ${event.topic}`, own, writer, attributes, false, event.writtenAt).end();
}

/**
 * ConsumedEvent is what a CONSUMER span describes: one event as a consumer group's handler receives it from Kafka,
 * or one command as a queue's consumer receives it (`system` set, no partition or offset, `attempt` instead).
 */
export interface ConsumedEvent {
  readonly system?: MessagingSystem | undefined;
  readonly topic: string;
  readonly partition?: number | undefined;
  readonly offset?: string | undefined;
  readonly id: string;
  readonly type: string;
  readonly subject: string;
  readonly group: string;
  /** attempt counts a command's deliveries, this one included (Kafka retries show as sibling spans instead). */
  readonly attempt?: number | undefined;
}

/** startProcess begins the CONSUMER span of one handler attempt: `own` is the handler's context, `producer` the sender's span. */
export function startProcess(spans: Spans, event: ConsumedEvent, own: TraceContext, producer: TraceContext | undefined): Span {
  const system = event.system ?? "kafka";
  return spans.start(
    SpanKind.CONSUMER,
    `process ${event.topic}`,
    own,
    producer,
    {
      [MESSAGING.system]: system,
      [MESSAGING.operationType]: "process",
      [MESSAGING.destination]: event.topic,
      ...(event.partition === undefined ? {} : { [MESSAGING.partition]: String(event.partition) }),
      ...(event.offset === undefined ? {} : { [MESSAGING.offset]: Number(event.offset) }),
      [MESSAGING.messageId]: event.id,
      ...(system === "kafka" ? { [MESSAGING.key]: event.subject } : { "shop.command.subject": event.subject }),
      [MESSAGING.group]: event.group,
      [EVENT_TYPE]: event.type,
      ...(event.attempt === undefined ? {} : { "shop.command.attempt": event.attempt }),
    },
    true,
  );
}

/**
 * processInTrace runs one handler attempt of a consumed event or command in the trace its `traceparent` names (a
 * child of the sender's PRODUCER span), as a CONSUMER span when tracing is on, an error when `handle` throws. The
 * one path for Kafka events (consumer.ts) and commands (the kit's command consumers).
 */
export async function processInTrace(
  spans: Spans | undefined,
  message: ConsumedEvent & { readonly traceparent?: string | undefined },
  handle: () => Promise<void> | void,
): Promise<void> {
  const { own, parent } = continueTrace(message.traceparent);
  const span = spans && startProcess(spans, message, own, parent);
  try {
    await runWithTrace(own, handle);
  } catch (error) {
    if (span) endProcess(span, error);
    throw error;
  }
  if (span) endProcess(span);
}

/** endProcess ends a CONSUMER span: an error when the handler threw (the bus retries, then dead-letters). */
export function endProcess(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
}
