import { randomUUID } from "node:crypto";
import { Partitioners } from "kafkajs";
import { create } from "@bufbuild/protobuf";
import { OrderCancelledSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { PaymentDeclinedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { toCloudEventHeaders } from "#shared/events/cloudevents.js";
import { toOutgoingEvent } from "#shared/events/event-bus.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { EVENT_PARTITIONS, Topics } from "#shared/events/topics.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";

/**
 * awaitConsumersPositioned returns once the service's fresh consumer group (KAFKA_FROM_BEGINNING=false) reads every
 * partition of the topics it consumes. A group starting at "latest" resolves that offset on its first fetch, after
 * the join; an event published in between would be skipped. So this sends harmless probe events (about unknown
 * orders) to each partition explicitly, resending until the service's inbox shows one per partition.
 */
export async function awaitConsumersPositioned(
  db: SqliteDatabase,
  brokers = process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092",
): Promise<void> {
  const producer = createKafkaClient({ brokers: parseBrokers(brokers), clientId: "inventory-test-probe" }).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const seen = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM inbox WHERE event_id = ?`);
  const targets = [Topics.paymentEvents, Topics.orderEvents].flatMap((topic) =>
    Array.from({ length: EVENT_PARTITIONS }, (_, partition) => ({ topic, partition, ids: [] as string[] })),
  );
  try {
    let lastSend = 0;
    await waitUntil(
      async () => {
        const pending = targets.filter((target) => !target.ids.some((id) => (seen.get(id)?.n ?? 0) > 0));
        if (pending.length === 0) return true;
        if (Date.now() - lastSend > 1_000) {
          lastSend = Date.now();
          for (const target of pending) {
            const orderId = `probe-${randomUUID()}`;
            const event =
              target.topic === Topics.paymentEvents
                ? toOutgoingEvent(PaymentDeclinedSchema, create(PaymentDeclinedSchema, { orderId, reason: "probe" }), {
                    source: "inventory-test",
                    subject: orderId,
                  })
                : toOutgoingEvent(OrderCancelledSchema, create(OrderCancelledSchema, { orderId, reason: "probe" }), {
                    source: "inventory-test",
                    subject: orderId,
                  });
            target.ids.push(event.id);
            await producer.send({
              topic: target.topic,
              acks: -1,
              messages: [
                { partition: target.partition, key: orderId, value: Buffer.from(event.data), headers: toCloudEventHeaders(event) },
              ],
            });
          }
        }
        return false;
      },
      { message: "the inventory consumers to read every partition" },
    );
  } finally {
    await producer.disconnect();
  }
}
