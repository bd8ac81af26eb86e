/**
 * The event bus: the one way services publish and consume domain events. Everything above this file sees
 * OutgoingEvent / IncomingEvent and the EventBus interface; the Kafka client is an implementation detail
 * (kafka-event-bus.ts).
 */
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { writerTraceparent } from "../trace-context.js";

/** OutgoingEvent is one event to publish: CloudEvents attributes plus the protobuf-encoded message. */
export interface OutgoingEvent {
  /** id is a UUID, unique per event: consumers use it as their idempotency key (inbox). */
  readonly id: string;
  /** type is the full protobuf type name of `data`, e.g. `shop.order.v1.OrderCreated`. */
  readonly type: string;
  /** source names the producing service, e.g. `shopmesh/order`. */
  readonly source: string;
  /** subject is the aggregate id (e.g. the order id); it is also the Kafka key, so one aggregate stays in order. */
  readonly subject: string;
  readonly time: Date;
  /** data is the protobuf binary of the event message. */
  readonly data: Uint8Array;
  /** traceparent is the W3C trace context of the operation that produced the event. */
  readonly traceparent?: string | undefined;
}

/** IncomingEvent is an event as consumed, with where it came from. */
export interface IncomingEvent extends OutgoingEvent {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** headers are all Kafka headers, UTF-8 decoded, including the `ce_` ones. */
  readonly headers: Readonly<Record<string, string>>;
}

/** RetryPolicy bounds how often a failing handler is called for one event before it is dead-lettered. */
export interface RetryPolicy {
  /** attempts is the total number of handler calls, the first included (1 = no retry). */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** DEFAULT_RETRY: 5 calls over about 3 s (200, 400, 800, 1600 ms between them), then the DLQ. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, initialDelayMs: 200, maxDelayMs: 5_000 };

/** SubscribeOptions describes one consumer group subscription. */
export interface SubscribeOptions {
  /** groupId is the consumer group: one per consuming service and purpose, e.g. `shopmesh-payment`. */
  readonly groupId: string;
  readonly topics: readonly string[];
  /**
   * handle processes one event. Events of one partition (so of one subject) arrive one at a time, in order. A
   * throw is retried per `retry`; after the last attempt the message goes to `<topic>.dlq` and consumption goes on.
   */
  handle(event: IncomingEvent): Promise<void>;
  readonly retry?: RetryPolicy | undefined;
  /** fromBeginning: where a group with no committed offset starts; default true (the oldest retained event). */
  readonly fromBeginning?: boolean | undefined;
  /**
   * staleMembers are member ids that earlier runs of this consumer held in the group and may never have left (a
   * process killed with SIGKILL). They are asked to leave before the join, so the join does not wait out their
   * session timeout.
   */
  readonly staleMembers?: readonly string[] | undefined;
  /** onGroupJoin hears the member id of every join (it changes when the consumer restarts), to pass as stale later. */
  onGroupJoin?(memberId: string): void;
}

/** Subscription is a running consumer; close() lets the current event finish, commits and leaves the group. */
export interface Subscription {
  close(): Promise<void>;
}

/** EventPosition is where a published event is in the log: its partition and offset (a decimal int64). */
export interface EventPosition {
  readonly partition: number;
  readonly offset: string;
}

/**
 * EventBus publishes and consumes CloudEvents-framed protobuf events.
 *
 * Delivery is at least once: a consumer commits an event's offset only after its handler succeeded or after the
 * event was dead-lettered, so a crash may replay events and handlers must be idempotent (inbox by event id).
 *
 * The implementation today is kafkajs (kafka-event-bus.ts). kafkajs is in maintenance mode; this interface is kept
 * small so that @platformatic/kafka (its likely successor) or another client can replace it without touching callers.
 */
export interface EventBus {
  /**
   * publish writes the events to the topic as one batch and resolves once all in-sync replicas have them (acks=all),
   * with where each event landed, in the order given (the outbox records it, so an operator can place an event against
   * a consumer's committed offset). A bus that cannot tell (an in-memory one) resolves with nothing.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: buses (and test doubles) that record nothing keep returning Promise<void>
  publish(topic: string, events: readonly OutgoingEvent[]): Promise<readonly EventPosition[] | void>;
  /** subscribe starts a consumer and resolves once it has joined its group. */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** close stops every subscription (committing their offsets) and disconnects the producer. */
  close(): Promise<void>;
  /**
   * ready connects the producer and checks that the topics exist, so a service's start-up waits for the broker (or
   * fails) before it reports SERVING rather than at its first publish. Errors marked `retriable` are worth retrying.
   * Optional: an in-memory bus is always ready.
   */
  ready?(topics: readonly string[]): Promise<void>;
}

/**
 * eventSource is the CloudEvents `source` of every event a service publishes: `shopmesh/<service>`, the one rule
 * (docs/architecture.md, "Names").
 */
export function eventSource(service: string): string {
  return `shopmesh/${service}`;
}

/**
 * toOutgoingEvent is the one builder of outgoing events: `type` is the message's full proto name, `id` a fresh UUID,
 * `time` now and `traceparent` the call or event being handled (a new trace when there is none; {@link
 * writerTraceparent}), unless given. The bus turns these attributes into the CloudEvents headers.
 */
export function toOutgoingEvent<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  attributes: { source: string; subject: string; traceparent?: string | undefined; id?: string; time?: Date },
): OutgoingEvent {
  return {
    id: attributes.id ?? crypto.randomUUID(),
    type: schema.typeName,
    source: attributes.source,
    subject: attributes.subject,
    time: attributes.time ?? new Date(),
    data: toBinary(schema, message),
    traceparent: attributes.traceparent ?? writerTraceparent(),
  };
}

/** decodeEvent decodes an event's data as the given schema; it throws when `ce_type` names another message. */
export function decodeEvent<Desc extends DescMessage>(schema: Desc, event: Pick<IncomingEvent, "type" | "data">): MessageShape<Desc> {
  if (event.type !== schema.typeName) {
    throw new Error(`event type "${event.type}" is not "${schema.typeName}"`);
  }
  return fromBinary(schema, event.data);
}
