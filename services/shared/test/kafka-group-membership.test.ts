// Against the real broker: a consumer process killed with SIGKILL stays a member of its group until its session
// times out; leaveGroupMember drops it at once, which is what lets a restarted service join without waiting.
// commitGroupOffsets sets where a group with no members starts, without joining it.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { toOutgoingEvent } from "#shared/events/event-bus.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { createKafkaEventBus } from "#shared/events/kafka-event-bus.js";
import { commitGroupOffsets, leaveGroupMember } from "#shared/events/kafka-group-membership.js";
import { Topics } from "#shared/events/topics.js";
import { ensureTopics } from "../../../scripts/create-topics.js";
import { waitUntil } from "../../../scripts/mesh/wait.js";
import { groupMemberIds } from "../../../test/system/consumer-groups.js";

const brokers = inject("kafkaBrokers");
const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "group-member.ts");
// Quiet: kafkajs logs the expected "not aware of this member" answer at ERROR.
const kafka = createKafkaClient({
  brokers: parseBrokers(brokers),
  clientId: "kafka-group-membership-test",
  logger: { error: () => undefined, warn: () => undefined },
});

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill("SIGKILL");
  child = undefined;
});

/** joinInChildProcess starts a member of `groupId` in its own process and returns its member id once it joined. */
function joinInChildProcess(groupId: string): Promise<string> {
  child = spawn(process.execPath, ["--import", "tsx", fixture, brokers, groupId, Topics.orderEvents], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the fixture did not join within 30 s")), 30_000);
    child!.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const match = /"memberId":"([^"]+)"/.exec(chunk);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child!.once("exit", (code) => reject(new Error(`the fixture exited (${code}) before joining`)));
  });
}

describe("leaveGroupMember (real broker)", () => {
  it("when a member's process was killed with SIGKILL, then leaving on its behalf removes it from the group at once", async () => {
    // Arrange: a dead member, still in the group (its 30 s session has not run out)
    const groupId = `leave-test-${crypto.randomUUID()}`;
    const memberId = await joinInChildProcess(groupId);
    const killed = new Promise((resolve) => child!.once("exit", resolve));
    child!.kill("SIGKILL");
    await killed;
    expect(await groupMemberIds(brokers, groupId)).toEqual([memberId]);

    // Act
    const left = await leaveGroupMember(kafka, groupId, memberId);

    // Assert
    expect(left).toBe(true);
    expect(await groupMemberIds(brokers, groupId)).toEqual([]);
  }, 60_000);

  it("when the member is not in the group (any more), then it answers false and changes nothing", async () => {
    const groupId = `leave-test-${crypto.randomUUID()}`;

    expect(await leaveGroupMember(kafka, groupId, "shopmesh-gone-0000")).toBe(false);
    expect(await groupMemberIds(brokers, groupId)).toEqual([]);
  });
});

describe("commitGroupOffsets (real broker)", () => {
  const topic = `test.group-offsets.${crypto.randomUUID()}.events`;
  const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined };
  const bus = createKafkaEventBus({ brokers: parseBrokers(brokers), clientId: "kafka-group-membership-test", logger: quiet });
  const event = (value: string) =>
    toOutgoingEvent(StringValueSchema, create(StringValueSchema, { value }), { source: "shopmesh/test", subject: "s-1" });

  afterAll(async () => {
    await bus.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it("when a group has no members, then its first member starts at the committed offsets and the committer never joins", async () => {
    // Arrange: one event before the point the group is to start at
    await ensureTopics(parseBrokers(brokers), [{ name: topic, partitions: 1, retentionMs: 3_600_000 }]);
    await bus.publish(topic, [event("before")]);
    const groupId = `offsets-test-${crypto.randomUUID()}`;

    // Act
    await commitGroupOffsets(kafka, groupId, [{ topic, partitions: [{ partition: 0, offset: "1" }] }]);

    // Assert: nobody is left in the group, and a member reading "from the beginning" starts after "before"
    expect(await groupMemberIds(brokers, groupId)).toEqual([]);
    const seen: string[] = [];
    await bus.subscribe({ groupId, topics: [topic], fromBeginning: true, handle: async (e) => void seen.push(e.id) });
    const after = event("after");
    await bus.publish(topic, [after]);
    await waitUntil(() => seen.length > 0, { message: "the event after the committed offset" });
    expect(seen).toEqual([after.id]);
  });

  it("when the group has a live member, then the commit is refused and the member keeps its place", async () => {
    const groupId = `offsets-test-${crypto.randomUUID()}`;
    const memberId = await joinInChildProcess(groupId);

    await expect(
      commitGroupOffsets(kafka, groupId, [{ topic: Topics.orderEvents, partitions: [{ partition: 0, offset: "0" }] }]),
    ).rejects.toThrow(/not aware of this member/);
    expect(await groupMemberIds(brokers, groupId)).toEqual([memberId]);
  });
});
