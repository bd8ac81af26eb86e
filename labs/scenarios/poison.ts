/**
 * poison: garbage and half-valid events on the order and payment topics under steady load. Each must end on its
 * topic's DLQ (and nowhere else), the rest must keep flowing, and replay must be safe: a dead letter replayed after
 * the fact is dead-lettered again, and a real, already handled event published a second time changes nothing (the
 * consumers' inbox), which the reconciliation's "paid once, committed once" proves.
 */
import { toBinary } from "@bufbuild/protobuf";
import { Partitioners, type Kafka } from "kafkajs";
import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import { toCloudEventHeaders } from "#shared/events/cloudevents.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { listDeadLetters, replayDeadLetter, withoutDlqHeaders } from "../../scripts/dlq.js";
import { foreignCurrencyOrderCreated } from "../../scripts/mesh/poison-events.js";
import { sleep, waitUntil } from "../../scripts/mesh/wait.js";
import type { Lab } from "../lib/lab.js";
import { LAB_RATE, steadyLoad, type Scenario } from "./scenario.js";

/** Poison is one injected message: where it goes and why it must be dead-lettered. */
interface Poison {
  readonly topic: string;
  readonly key: string;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
  readonly why: string;
}

function headers(type: string, subject: string): Record<string, string> {
  return toCloudEventHeaders({ id: crypto.randomUUID(), type, source: "shopmesh/lab-poison", subject, time: new Date() });
}

/** poisons builds one of each kind; keys start with "poison-" so the DLQ records can be matched to them. */
function poisons(): Poison[] {
  const key = () => `poison-${crypto.randomUUID()}`;
  const usd = (orderId: string) => Buffer.from(toBinary(OrderCreatedSchema, foreignCurrencyOrderCreated(orderId, "lab-poison")));
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x08, 0x96, 0x01, 0x12]);
  const k1 = key();
  const k2 = key();
  const k3 = key();
  const k4 = key();
  const k5 = key();
  return [
    { topic: Topics.orderEvents, key: k1, value: garbage, headers: {}, why: "no CloudEvents headers at all" },
    {
      topic: Topics.orderEvents,
      key: k2,
      value: garbage,
      headers: headers("shop.order.v1.OrderCreated", k2),
      why: "OrderCreated whose bytes are not protobuf",
    },
    {
      topic: Topics.orderEvents,
      key: k3,
      value: usd(k3),
      headers: headers("shop.order.v1.OrderCreated", k3),
      why: "half-valid OrderCreated in a currency payment does not take",
    },
    {
      topic: Topics.paymentEvents,
      key: k4,
      value: garbage,
      headers: headers("shop.payment.v1.PaymentAuthorized", k4),
      why: "PaymentAuthorized whose bytes are not protobuf",
    },
    {
      topic: Topics.orderEvents,
      key: k5,
      value: Buffer.from("{}"),
      headers: { ...headers("shop.order.v1.OrderCreated", k5), ce_specversion: "0.3" },
      why: "an unsupported CloudEvents version",
    },
  ];
}

async function publish(kafka: Kafka, messages: readonly Poison[]): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (const m of messages)
      await producer.send({ topic: m.topic, acks: -1, messages: [{ key: m.key, value: m.value, headers: m.headers }] });
  } finally {
    await producer.disconnect();
  }
}

/** republishOneHandled sends an already handled PaymentAuthorized again, as a replay by mistake would. */
async function republishOneHandled(kafka: Kafka): Promise<string | undefined> {
  // The latest one: a shared lab broker also holds earlier labs' events, which this lab's services never saw.
  const event = (await listDeadLetters(kafka, [Topics.paymentEvents])).filter((m) => m.type === "shop.payment.v1.PaymentAuthorized").at(-1);
  if (!event) return undefined;
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({
      topic: Topics.paymentEvents,
      acks: -1,
      messages: [{ key: event.key, value: event.value, headers: withoutDlqHeaders(event.headers) }],
    });
  } finally {
    await producer.disconnect();
  }
  return event.subject;
}

export const poison: Scenario = {
  name: "poison",
  summary: "garbage and half-valid events under steady load: they go to the DLQ, the rest flows, replay is safe",
  async run(lab: Lab) {
    const seconds = lab.short ? 20 : 60;
    await steadyLoad(lab, LAB_RATE, seconds);
    const kafka = createKafkaClient({
      brokers: parseBrokers(lab.brokers),
      clientId: "shopmesh-lab-poison",
      logger: { error: () => undefined, warn: () => undefined },
    });
    const injected = poisons();
    const why = new Map(injected.map((p) => [p.key, p.why]));
    lab.expectDeadLetters((letter) => {
      const reason = why.get(letter.key);
      return reason && letter.topic === dlqTopicOf(injected.find((p) => p.key === letter.key)!.topic) ? `injected: ${reason}` : undefined;
    });
    await sleep(5_000);
    await publish(kafka, injected);
    lab.note(`injected ${injected.length} poison events: ${injected.map((p) => p.why).join("; ")}`);
    let seen = new Set<string>();
    // Each must reach a DLQ at least once (a topic read by two consumer groups may dead-letter it twice).
    const letters = await waitUntil(
      async () => {
        const found = (await listDeadLetters(kafka, [dlqTopicOf(Topics.orderEvents), dlqTopicOf(Topics.paymentEvents)])).filter((l) =>
          why.has(l.key?.toString() ?? ""),
        );
        seen = new Set(found.map((l) => l.key?.toString() ?? ""));
        return seen.size === injected.length && found;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 2_000,
        message: `all ${injected.length} poison events on the DLQs`,
        describe: () =>
          `missing: ${
            injected
              .filter((p) => !seen.has(p.key))
              .map((p) => p.why)
              .join("; ") || "none"
          }`,
      },
    );
    lab.note(`${letters.length} poison events dead-lettered (by ${[...new Set(letters.map((l) => l.consumer))].join(", ")})`);
    lab.facts["deadLettered"] = letters.map((l) => ({
      key: l.key?.toString(),
      consumer: l.consumer,
      attempts: l.attempts,
      error: l.error,
    }));
    const replayable = letters.find((l) => l.id !== "");
    if (replayable) {
      await replayDeadLetter(kafka, replayable.id);
      lab.note(`replayed dead letter ${replayable.id} (${replayable.type}) with the DLQ tool`);
    }
    const duplicateOf = await republishOneHandled(kafka);
    lab.note(duplicateOf ? `published order ${duplicateOf}'s PaymentAuthorized a second time` : "no PaymentAuthorized to republish yet");
    await sleep(Math.max(5_000, (seconds - lab.seconds) * 1_000));
    lab.faultsStopped();
  },
};
