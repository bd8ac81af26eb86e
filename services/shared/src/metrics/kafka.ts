import type { Admin, Kafka } from "kafkajs";

/** GroupTopics is a consumer group and the topics whose lag to report for it. */
export interface GroupTopics {
  readonly groupId: string;
  readonly topics: readonly string[];
}

/** KafkaSnapshot is one reading of the broker: lag per group and partition, depth per DLQ. */
export interface KafkaSnapshot {
  /** ok is false when the broker did not answer within the timeout; the lists are then empty. */
  readonly ok: boolean;
  readonly lags: readonly { group: string; topic: string; partition: number; lag: number }[];
  readonly dlqs: readonly { topic: string; depth: number }[];
}

/** KafkaLagSourceOptions say what to read and how long a reading may take and live. */
export interface KafkaLagSourceOptions {
  readonly kafka: Kafka;
  readonly groups: readonly GroupTopics[];
  /** dlqTopics are the `<topic>.dlq` topics whose depth to report (the caller says which and why). */
  readonly dlqTopics: readonly string[];
  /** timeoutMs bounds one reading (default 3 s, well under Prometheus's default 10 s scrape timeout). */
  readonly timeoutMs?: number;
  /** cacheMs: a reading this young is served again (default 1 s), so several scrapers cost one reading. */
  readonly cacheMs?: number;
}

/**
 * KafkaLagSource reads consumer lag and DLQ depth through the kafkajs admin at scrape time: each group's committed
 * offsets (`fetchOffsets`) against the partitions' end offsets (`fetchTopicOffsets`). It reads only when asked, so a
 * stuck consumer shows its lag growing with every scrape instead of a number a timer last saw. One reading is in
 * flight at a time and is kept for `cacheMs`; a reading that times out drops the admin connection, which may be the
 * broken part, and the next one reconnects.
 */
export class KafkaLagSource {
  private admin: Admin | undefined;
  private inFlight: Promise<KafkaSnapshot> | undefined;
  private last: { at: number; snapshot: KafkaSnapshot } | undefined;
  private closed = false;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;

  constructor(private readonly options: KafkaLagSourceOptions) {
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.cacheMs = options.cacheMs ?? 1_000;
  }

  /** read returns a fresh enough snapshot; it never rejects (a broker that does not answer gives `ok: false`). */
  read(): Promise<KafkaSnapshot> {
    if (this.last && performance.now() - this.last.at < this.cacheMs) return Promise.resolve(this.last.snapshot);
    this.inFlight ??= this.readNow().then((snapshot) => {
      this.last = { at: performance.now(), snapshot };
      this.inFlight = undefined;
      return snapshot;
    });
    return this.inFlight;
  }

  /** close disconnects the admin; later reads answer `ok: false`. */
  async close(): Promise<void> {
    this.closed = true;
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch(() => undefined);
  }

  private async readNow(): Promise<KafkaSnapshot> {
    if (this.closed) return { ok: false, lags: [], dlqs: [] };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Kafka did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([this.query(), timeout]);
    } catch {
      const stale = this.admin;
      this.admin = undefined;
      void stale?.disconnect().catch(() => undefined);
      return { ok: false, lags: [], dlqs: [] };
    } finally {
      clearTimeout(timer);
    }
  }

  private async query(): Promise<KafkaSnapshot> {
    const admin = await this.connected();
    const { groups, dlqTopics } = this.options;
    const topics = [...new Set([...groups.flatMap((group) => group.topics), ...dlqTopics])];
    const ends = new Map(await Promise.all(topics.map(async (topic) => [topic, await admin.fetchTopicOffsets(topic)] as const)));
    const lags: { group: string; topic: string; partition: number; lag: number }[] = [];
    await Promise.all(
      groups.map(async ({ groupId, topics: groupTopics }) => {
        const committed = await admin.fetchOffsets({ groupId, topics: [...groupTopics] });
        for (const { topic, partitions } of committed) {
          for (const { partition, offset } of partitions) {
            // "-1": the group never committed here, so it has no position to be behind; no number beats a wrong one.
            if (offset === "-1") continue;
            const end = ends.get(topic)?.find((p) => p.partition === partition);
            if (!end) continue;
            lags.push({ group: groupId, topic, partition, lag: Math.max(0, Number(BigInt(end.high) - BigInt(offset))) });
          }
        }
      }),
    );
    const dlqs = dlqTopics.map((topic) => ({
      topic,
      depth: (ends.get(topic) ?? []).reduce((sum, p) => sum + Number(BigInt(p.high) - BigInt(p.low)), 0),
    }));
    return { ok: true, lags, dlqs };
  }

  private async connected(): Promise<Admin> {
    if (this.admin) return this.admin;
    const admin = this.options.kafka.admin();
    await admin.connect();
    // A connect that outlived its reading's timeout, or the process's stop, must not leave a connection behind.
    if (this.closed) {
      await admin.disconnect().catch(() => undefined);
      throw new Error("closed");
    }
    this.admin = admin;
    return admin;
  }
}
