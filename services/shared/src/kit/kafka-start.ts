import type { KafkaLogger } from "../events/kafka-client.js";
import type { Logger } from "../logger.js";

/** MAX_BACKOFF_MS caps the wait between two start attempts. */
const MAX_BACKOFF_MS = 5_000;

/**
 * KafkaStartWait lets a service's start-up wait for Kafka instead of dying on the first retriable error (a broker
 * not reachable yet, "The coordinator is loading" on a broker that just started, a topic still being created). It
 * says so once, at warn, and keeps kafkajs's own error lines (one per attempt) out of the way meanwhile.
 */
export interface KafkaStartWait {
  /** clientLogger is for kafkajs's own lines: quiet (debug, after one warn) while starting, as they are after. */
  readonly clientLogger: KafkaLogger;
  /**
   * retry runs `attempt` until it succeeds, retrying retriable errors with backoff ({@link isRetriable}) until the
   * start timeout; a non-retriable error, or the timeout, fails with the step's name and the last error.
   */
  retry<T>(step: string, attempt: () => Promise<T>): Promise<T>;
  /** done ends the start: kafkajs's lines go through at their own level again. */
  done(): void;
}

/**
 * isRetriable follows kafkajs's own rule for restarting a crashed consumer: an error (or the error it was caused by)
 * marked `retriable: true`, or kafkajs having given up retrying one (KafkaJSNumberOfRetriesExceeded).
 */
export function isRetriable(error: unknown): boolean {
  if ((error as { name?: unknown } | undefined)?.name === "KafkaJSNumberOfRetriesExceeded") return true;
  let cause: unknown = error;
  while ((cause as { cause?: unknown } | undefined)?.cause !== undefined) cause = (cause as { cause: unknown }).cause;
  return (cause as { retriable?: unknown } | undefined)?.retriable === true;
}

/** kafkaStartWait starts the clock of a service's start-up: it may wait for Kafka up to `timeoutMs` in all. */
export function kafkaStartWait(logger: Logger, timeoutMs: number): KafkaStartWait {
  const startedAt = Date.now();
  const deadline = startedAt + timeoutMs;
  let starting = true;
  let warned = false;

  const waiting = (step: string, reason: string) => {
    if (warned) return logger.debug({ step, reason }, "still waiting for Kafka");
    warned = true;
    logger.warn({ step, reason, timeoutMs }, "Kafka is not ready yet; waiting for it (KAFKA_START_TIMEOUT_MS)");
  };
  const kafkajsLine = (level: "warn" | "error") => (fields: object, message: string) => {
    if (starting) waiting("kafka client", message);
    else logger[level](fields, message);
  };

  return {
    clientLogger: { warn: kafkajsLine("warn"), error: kafkajsLine("error"), info: (fields, message) => logger.info(fields, message) },

    async retry<T>(step: string, attempt: () => Promise<T>): Promise<T> {
      for (let backoffMs = 250; ; backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2)) {
        try {
          return await beforeDeadline(attempt(), deadline, () => `${step}: Kafka was not ready within ${timeoutMs} ms`);
        } catch (error) {
          if (!isRetriable(error)) throw error;
          const left = deadline - Date.now();
          const reason = error instanceof Error ? error.message : String(error);
          if (left <= 0) throw new Error(`${step}: Kafka was not ready within ${timeoutMs} ms: ${reason}`, { cause: error });
          waiting(step, reason);
          await new Promise((resolve) => setTimeout(resolve, Math.min(backoffMs, left)));
        }
      }
    },

    done() {
      if (starting && warned) logger.info({ waitedMs: Date.now() - startedAt }, "Kafka is ready");
      starting = false;
    },
  };
}

/**
 * beforeDeadline settles with `work`, or rejects (not retriable) at the deadline: kafkajs retries a connection for
 * about 50 s on its own, which must not stretch the start timeout. Work left running past it is abandoned; the
 * failed start closes the bus under it.
 */
function beforeDeadline<T>(work: Promise<T>, deadline: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), Math.max(0, deadline - Date.now()));
  });
  work.catch(() => undefined); // lost the race: its rejection is nobody's business any more
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
