import type { Consumer, Kafka } from "kafkajs";

/** RetriableError is an error the start-up may wait out; it follows kafkajs's own `retriable` convention. */
export class RetriableError extends Error {
  override readonly name = "RetriableError";
  readonly retriable = true;
}

/**
 * leaveGroupMember asks the group coordinator to drop one member of a consumer group at once (LeaveGroup on its
 * behalf); true when it did, false when the coordinator no longer knows that member (it left or timed out already).
 *
 * Why: a process killed with SIGKILL never leaves its group, and the coordinator keeps its member until its session
 * times out. A restarted process's join then waits for that dead member to rejoin, which it never does: about 28 s
 * before the service can report SERVING. The restarted process knows the dead member's id (the kit stores it at
 * every join), so it asks the coordinator to drop it and joins an empty group at once. Static membership
 * (`group.instance.id`, KIP-345) would do this properly, but kafkajs 2.x does not implement it.
 *
 * kafkajs has no public API for LeaveGroup on another member's behalf, so this reaches into its client: the cluster
 * factory every producer, consumer and admin is built from (`Symbol(private:Kafka:createCluster)`), the cluster's
 * `findGroupCoordinator` and the broker's `leaveGroup`, all in kafkajs 2.2.x's src. If those internals change shape,
 * this throws a plain Error saying so; callers treat that as "could not evict" and the join waits as before.
 */
export async function leaveGroupMember(kafka: Kafka, groupId: string, memberId: string): Promise<boolean> {
  const cluster = createCluster(kafka);
  await cluster.connect();
  try {
    const coordinator = await cluster.findGroupCoordinator({ groupId });
    await coordinator.leaveGroup({ groupId, memberId });
    return true;
  } catch (error) {
    const type = (error as { type?: unknown }).type;
    if (type === "UNKNOWN_MEMBER_ID" || type === "GROUP_ID_NOT_FOUND") return false;
    throw error;
  } finally {
    await cluster.disconnect().catch(() => undefined);
  }
}

/** GroupOffsets are the offsets to commit for one topic: the offset of the next message to read, per partition. */
export interface GroupOffsets {
  readonly topic: string;
  readonly partitions: readonly { readonly partition: number; readonly offset: string }[];
}

/**
 * commitGroupOffsets commits offsets for a consumer group with no members, without joining it: an OffsetCommit with
 * generation -1 and no member id, as Kafka's own admin client does (`kafka-consumer-groups --reset-offsets`). The
 * group's first real member then starts exactly there. The coordinator refuses it while the group has members.
 * Retriable answers (a coordinator still loading or moved, as on a broker that just started) are retried until
 * `timeoutMs`.
 *
 * Why not a kafkajs consumer that joins, commits and disconnects (what the labs and system tests did): on a fresh
 * broker its first join crashes ("The coordinator is loading") and kafkajs restarts it on a timer. The restarted
 * member announces its join (GROUP_JOIN) before kafkajs marks it running, so a commit right then is silently skipped
 * ("consumer not running") and the disconnect neither leaves the group nor stops the runner: it crashes on the closed
 * connection, kafkajs restarts it again, and a member nobody owns stays in the group for the life of the process,
 * heartbeating and fetching but handling nothing. The service joining next shares the partitions with it; the ones
 * that member holds are never consumed, with no error anywhere (four fault labs lost two of payment's three
 * partitions that way). kafkajs's own admin.setOffsets runs such a consumer too, so this reaches into its client like
 * leaveGroupMember does (the broker's `offsetCommit`).
 */
export async function commitGroupOffsets(
  kafka: Kafka,
  groupId: string,
  offsets: readonly GroupOffsets[],
  timeoutMs = 30_000,
): Promise<void> {
  const topics = offsets
    .filter((topic) => topic.partitions.length > 0)
    .map(({ topic, partitions }) => ({ topic, partitions: [...partitions] }));
  if (topics.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  const cluster = createCluster(kafka);
  await cluster.connect();
  try {
    for (let backoffMs = 100; ; backoffMs = Math.min(1_000, backoffMs * 2)) {
      try {
        const coordinator = await cluster.findGroupCoordinator({ groupId });
        await coordinator.offsetCommit({ groupId, groupGenerationId: -1, memberId: "", topics });
        return;
      } catch (error) {
        if ((error as { retriable?: unknown }).retriable !== true || Date.now() + backoffMs > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
      }
    }
  } finally {
    await cluster.disconnect().catch(() => undefined);
  }
}

/** KafkajsCluster is the part of kafkajs's internal Cluster (src/cluster/index.js) used here. */
interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinator(request: { groupId: string }): Promise<{
    leaveGroup(request: { groupId: string; memberId: string }): Promise<unknown>;
    offsetCommit(request: {
      groupId: string;
      groupGenerationId: number;
      memberId: string;
      topics: { topic: string; partitions: { partition: number; offset: string }[] }[];
    }): Promise<unknown>;
  }>;
}

function createCluster(kafka: Kafka): KafkajsCluster {
  const key = Object.getOwnPropertySymbols(kafka).find((symbol) => symbol.description === "private:Kafka:createCluster");
  const factory = key === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[key];
  if (typeof factory !== "function") throw new Error("kafkajs internals changed: no private:Kafka:createCluster on the client");
  return (factory as (options: object) => KafkajsCluster)({ allowAutoTopicCreation: false });
}

/**
 * waitForGroupJoin resolves on the consumer's first group join. A crash kafkajs recovers from by itself (`restart`:
 * a retriable error such as "The coordinator is loading" on a broker that just started) is not a failure: it keeps
 * waiting. It rejects on a crash kafkajs gives up on, and with a RetriableError after `timeoutMs`.
 */
export function waitForGroupJoin(consumer: Consumer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new RetriableError(`consumer did not join its group within ${timeoutMs} ms`)), timeoutMs);
    const removeJoin = consumer.on(consumer.events.GROUP_JOIN, () => finish());
    const removeCrash = consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) finish(event.payload.error);
    });
    function finish(error?: Error): void {
      clearTimeout(timer);
      removeJoin();
      removeCrash();
      if (error) reject(error);
      else resolve();
    }
  });
}
