import type { EventBus, IncomingEvent, Subscription } from "#shared/events/event-bus.js";
import { createKafkaClient } from "#shared/events/kafka-client.js";

/**
 * pinGroupToLatest commits the current end of each topic for a fresh consumer group. A fresh group with
 * fromBeginning=false resolves "latest" only on its first fetch, after the join; an event published in between
 * would be skipped. Committing the offsets first removes that race: the group starts exactly here.
 */
export async function pinGroupToLatest(brokers: readonly string[], groupId: string, topics: readonly string[]): Promise<void> {
  const admin = createKafkaClient({ brokers, clientId: "payment-test-admin" }).admin();
  await admin.connect();
  try {
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({ groupId, topic, partitions: offsets.map(({ partition, offset }) => ({ partition, offset })) });
    }
  } finally {
    await admin.disconnect();
  }
}

/** Collector gathers every event arriving on a topic from now on. */
export interface Collector {
  readonly events: IncomingEvent[];
  close(): Promise<void>;
}

/** collect subscribes a fresh, pinned group to `topic` and keeps what arrives. */
export async function collect(bus: EventBus, brokers: readonly string[], topic: string): Promise<Collector> {
  const groupId = `payment-test-collector-${crypto.randomUUID()}`;
  await pinGroupToLatest(brokers, groupId, [topic]);
  const events: IncomingEvent[] = [];
  const subscription: Subscription = await bus.subscribe({
    groupId,
    topics: [topic],
    fromBeginning: false,
    handle: async (event) => void events.push(event),
  });
  return { events, close: () => subscription.close() };
}
