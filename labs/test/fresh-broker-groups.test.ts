/**
 * How a lab opens its mesh (labs/lib/lab.ts): a fresh broker, the topics created, each service group's offsets
 * committed at the topics' ends (commitOffsets), then the services subscribe through the kit's event bus. Four full
 * labs ended with payment's group handling one partition of three for the whole run, silently. Each round here does
 * the same on a broker of its own, with several groups (each a chance to meet a group coordinator that is still
 * loading), publishes keyed events to every partition, and asks every group to handle every one of them.
 *
 * Rounds: LAB_GROUPS_ROUNDS (default 1: before the fix the first round failed; more for a soak); each starts a broker, so set LAB_GROUPS_BROKER_PORT to use a fixed port
 * (default: a free one, as the labs pick).
 */
import { create } from "@bufbuild/protobuf";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Partitioners } from "kafkajs";
import { describe, expect, it } from "vitest";
import { toOutgoingEvent, type OutgoingEvent } from "#shared/events/event-bus.js";
import { createKafkaClient } from "#shared/events/kafka-client.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { TOPIC_SPECS, Topics } from "#shared/events/topics.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { commitOffsets, endOffsets, quietLogger } from "../../test/system/event-log.js";
import { releaseLabBroker, startLabBroker } from "../lib/lab-broker.js";

const ROUNDS = Number(process.env["LAB_GROUPS_ROUNDS"] ?? 1);
const PORT = process.env["LAB_GROUPS_BROKER_PORT"] ? Number(process.env["LAB_GROUPS_BROKER_PORT"]) : undefined;
/** GROUPS per round: the lab has three; more make meeting a loading coordinator more likely. */
const GROUPS = 6;
const TOPIC = Topics.orderEvents;
const PARTITIONS = TOPIC_SPECS.find((spec) => spec.name === TOPIC)?.partitions ?? 3;
/** ROUND_TIMEOUT_MS bounds one round: a broker start on a busy machine, the joins, the events. */
const ROUND_TIMEOUT_MS = 180_000;

describe("consumer groups of a lab on a fresh broker", () => {
  it("when groups are pre-committed right after the topics are created and then subscribe through the event bus, then each group handles the events of every partition", {
    timeout: ROUNDS * ROUND_TIMEOUT_MS,
  }, async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const missed = await openLikeALab(round);
      expect(missed, `round ${round} of ${ROUNDS}: partitions whose events a group never handled`).toEqual({});
    }
  });
});

/** openLikeALab runs one round and returns, per group, the partitions with events it never handled (none: `{}`). */
async function openLikeALab(round: number): Promise<Record<string, number[]>> {
  const labBroker = await startLabBroker(PORT === undefined ? {} : { port: PORT });
  const brokers = [labBroker.broker.brokers];
  const kafka = createKafkaClient({ brokers, clientId: `shopmesh-lab-groups-${round}`, logger: quietLogger() });
  const bus = createKafkaEventBus({ brokers, clientId: "shopmesh-groups-test", joinTimeoutMs: 90_000, logger: quietLogger() });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const since = await waitUntil(() => endOffsets(admin, [TOPIC]), { timeoutMs: 30_000, intervalMs: 500, message: "the end offsets" });
    const groups = Array.from({ length: GROUPS }, (_, i) => `lab-groups-${round}-${i}-${crypto.randomUUID().slice(0, 8)}`);
    await Promise.all(groups.map((groupId) => commitOffsets(kafka, groupId, since)));

    const handled = new Map(groups.map((groupId) => [groupId, new Set<string>()]));
    await Promise.all(
      groups.map((groupId) =>
        bus.subscribe({ groupId, topics: [TOPIC], handle: async (event) => void handled.get(groupId)?.add(event.id) }),
      ),
    );
    const events = keyedEventsOnEveryPartition(2);
    await bus.publish(
      TOPIC,
      events.map(({ event }) => event),
    );

    const all = () => [...handled.values()].every((ids) => events.every(({ event }) => ids.has(event.id)));
    await waitUntil(all, { timeoutMs: 20_000, intervalMs: 200 }).catch(() => undefined);
    const missed: Record<string, number[]> = {};
    for (const [groupId, ids] of handled) {
      const partitions = [...new Set(events.filter(({ event }) => !ids.has(event.id)).map(({ partition }) => partition))];
      if (partitions.length > 0) missed[groupId] = partitions.sort();
    }
    return missed;
  } finally {
    await bus.close().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await releaseLabBroker(labBroker);
  }
}

/** keyedEventsOnEveryPartition makes `perPartition` events for each partition, keyed (subject) to land there. */
function keyedEventsOnEveryPartition(perPartition: number): { event: OutgoingEvent; partition: number }[] {
  const partitioner = Partitioners.DefaultPartitioner(); // the event bus's own
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));
  const result: { event: OutgoingEvent; partition: number }[] = [];
  const count = new Array<number>(PARTITIONS).fill(0);
  while (count.some((n) => n < perPartition)) {
    const subject = crypto.randomUUID();
    const partition = partitioner({ topic: TOPIC, partitionMetadata, message: { key: subject, value: null } });
    if ((count[partition] ?? 0) >= perPartition) continue;
    count[partition] = (count[partition] ?? 0) + 1;
    const message = create(StringValueSchema, { value: `order ${subject}` });
    result.push({ event: toOutgoingEvent(StringValueSchema, message, { source: "shopmesh/test", subject }), partition });
  }
  return result;
}
