import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { Logger } from "../logger.js";
import { decodeEvent, type EventBus, type IncomingEvent, type RetryPolicy, type Subscription } from "./event-bus.js";

/** EventHandler handles one event type; name handlers `<EventName>Handler`. */
export interface EventHandler<Desc extends DescMessage = DescMessage> {
  readonly schema: Desc;
  handle(message: MessageShape<Desc>, event: IncomingEvent): Promise<void> | void;
}

/** eventHandler ties a handler function to its event schema, keeping the message type. */
export function eventHandler<Desc extends DescMessage>(
  schema: Desc,
  handle: (message: MessageShape<Desc>, event: IncomingEvent) => Promise<void> | void,
): EventHandler<Desc> {
  return { schema, handle };
}

export interface HandlerSubscription {
  readonly groupId: string;
  readonly topics: readonly string[];
  // Handlers of different event types; the variance of MessageShape needs `any` here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly handlers: readonly EventHandler<any>[];
  readonly fromBeginning?: boolean;
  readonly retry?: RetryPolicy;
  readonly logger?: Logger;
}

/**
 * subscribeHandlers is a service's one subscription list: it routes each event to
 * the handler registered for its `ce_type`. Types nobody handles are skipped (a
 * tolerant reader: producers may add event types before consumers care). A
 * handler's throw goes back to the bus, which retries and then dead-letters.
 */
export function subscribeHandlers(bus: EventBus, options: HandlerSubscription): Promise<Subscription> {
  const byType = new Map(options.handlers.map((handler) => [handler.schema.typeName, handler]));
  return bus.subscribe({
    groupId: options.groupId,
    topics: options.topics,
    fromBeginning: options.fromBeginning,
    retry: options.retry,
    async handle(event) {
      const handler = byType.get(event.type);
      if (!handler) {
        options.logger?.debug({ eventId: event.id, eventType: event.type }, "no handler for event type; skipped");
        return;
      }
      await handler.handle(decodeEvent(handler.schema, event), event);
    },
  });
}
