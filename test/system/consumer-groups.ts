import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { quietLogger } from "./event-log.js";

/** groupMemberIds asks the broker which members a consumer group has now (describeGroups), e.g. none after a leave. */
export async function groupMemberIds(brokers: string, groupId: string): Promise<string[]> {
  const admin = createKafkaClient({ brokers: parseBrokers(brokers), clientId: "shopmesh-test-groups", logger: quietLogger() }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]?.members.map((member) => member.memberId) ?? [];
  } finally {
    await admin.disconnect();
  }
}
