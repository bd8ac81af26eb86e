/**
 * create-topics creates the project's Kafka topics that do not exist yet (the broker has auto-creation off), with the
 * partitions and retention declared in services/shared/src/events/topics.ts. Idempotent: run it as often as you like.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx scripts/create-topics.ts
 *
 * Used by scripts/kafka.sh start, by `npm start` and by the test global setup (through ensureTopics).
 */
import { pathToFileURL } from "node:url";
import type { Kafka } from "kafkajs";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { TOPIC_SPECS, toTopicConfig, type TopicSpec } from "#shared/events/topics.js";

/** ensureTopics creates the missing topics among `specs` and returns the names it created. */
export async function ensureTopics(
  brokers: readonly string[],
  specs: readonly TopicSpec[] = TOPIC_SPECS,
  kafka: Kafka = createKafkaClient({ brokers, clientId: "shopmesh-create-topics" }),
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((spec) => !existing.has(spec.name));
    if (missing.length === 0) return [];
    // createTopics ignores TOPIC_ALREADY_EXISTS, so a concurrent run creating the same topic is harmless.
    await admin.createTopics({ topics: missing.map((spec) => toTopicConfig(spec)), waitForLeaders: true, timeout: 30_000 });
    return missing.map((spec) => spec.name);
  } finally {
    await admin.disconnect();
  }
}

async function main(): Promise<void> {
  const value = process.env["KAFKA_BROKERS"];
  if (!value) throw new Error('environment variable "KAFKA_BROKERS" not set (e.g. KAFKA_BROKERS=127.0.0.1:9092)');
  const created = await ensureTopics(parseBrokers(value));
  console.log(created.length > 0 ? `[kafka] created topics: ${created.join(", ")}` : "[kafka] all topics exist");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(`[kafka] create-topics failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
