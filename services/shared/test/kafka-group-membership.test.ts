// Against the real broker: a consumer process killed with SIGKILL stays a member of its group until its session
// times out; leaveGroupMember drops it at once, which is what lets a restarted service join without waiting.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, inject, it } from "vitest";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { leaveGroupMember } from "#shared/events/kafka-group-membership.js";
import { Topics } from "#shared/events/topics.js";
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
