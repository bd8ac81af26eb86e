import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { Logger } from "../logger.js";
import { processInTrace } from "../tracing/messaging-spans.js";
import type { Spans } from "../tracing/spans.js";
import { decodeEvent, type EventBus, type IncomingEvent, type SubscribeOptions, type Subscription } from "./event-bus.js";

/** HandledEvent is an incoming event as a handler sees it: the event plus the name its inbox entries go under. */
export interface HandledEvent extends IncomingEvent {
  /** inboxConsumer names this handler in the inbox (`<service>.<event-name>`, {@link inboxConsumerOf}). */
  readonly inboxConsumer: string;
}

/** EventHandler handles one event type; name handlers `<EventName>Handler`. */
export interface EventHandler<Desc extends DescMessage = DescMessage> {
  readonly schema: Desc;
  handle(message: MessageShape<Desc>, event: HandledEvent): Promise<void> | void;
}

/** eventHandler ties a handler function to its event schema, keeping the message type. */
export function eventHandler<Desc extends DescMessage>(
  schema: Desc,
  handle: (message: MessageShape<Desc>, event: HandledEvent) => Promise<void> | void,
): EventHandler<Desc> {
  return { schema, handle };
}

/**
 * inboxConsumerOf names a service's handler of one event type in its inbox: `<service>.<event-name>`, the event's
 * message name in kebab case, e.g. `payment.order-created` (docs/architecture.md, "Names"). One name per handler
 * keeps each handler's dedupe its own, so a service can add a handler for an event another handler already saw.
 */
function inboxConsumerOf(service: string, eventType: string): string {
  const messageName = eventType.slice(eventType.lastIndexOf(".") + 1);
  return `${service}.${messageName.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase()}`;
}

/** HandlerSubscription is one service's subscription: its group, topics and handlers, and how to retry them. */
export interface HandlerSubscription extends Omit<SubscribeOptions, "handle"> {
  /** service names the consuming service, for its handlers' inbox names. */
  readonly service: string;
  // Handlers of different event types; the variance of MessageShape needs `any` here.
  readonly handlers: readonly EventHandler[];
  readonly logger?: Logger;
  /** spans, when tracing is on, record a CONSUMER span per handler attempt ({@link startProcess}). */
  readonly spans?: Spans | undefined;
}

/**
 * subscribeHandlers is a service's one subscription list: it routes each event to the handler registered for its
 * `ce_type`, inside the event's trace (a child of its `traceparent`, the relay's PRODUCER span), so whatever the
 * handler publishes or calls continues that trace; with tracing on, each attempt is a CONSUMER span. Types nobody handles are skipped (a tolerant reader: producers may add event types before consumers
 * care). A handler's throw goes back to the bus, which retries and then dead-letters.
 */
export function subscribeHandlers(bus: EventBus, options: HandlerSubscription): Promise<Subscription> {
  const { service, handlers, logger, spans, ...subscription } = options;
  const byType = new Map(handlers.map((handler) => [handler.schema.typeName, handler]));
  const names = new Map(handlers.map((handler) => [handler.schema.typeName, inboxConsumerOf(service, handler.schema.typeName)]));
  return bus.subscribe({
    ...subscription,
    async handle(event) {
      const handler = byType.get(event.type);
      if (!handler) {
        logger?.debug({ eventId: event.id, eventType: event.type }, "no handler for event type; skipped");
        return;
      }
      const handled: HandledEvent = { ...event, inboxConsumer: names.get(event.type) ?? inboxConsumerOf(service, event.type) };
      await processInTrace(spans, { ...event, group: subscription.groupId }, () =>
        handler.handle(decodeEvent(handler.schema, event), handled),
      );
    },
  });
}
