import { Kafka, logLevel, type LogEntry, type logCreator } from "kafkajs";
import { pino } from "pino";
import { quietKafkajsNegativeTimeouts } from "./kafkajs-timer-warning.js";

/** KafkaLogger is the part of a pino logger the Kafka client writes to. */
export interface KafkaLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

/** KafkaClientOptions configures createKafkaClient. */
export interface KafkaClientOptions {
  /** brokers are `host:port` bootstrap addresses, e.g. `["127.0.0.1:9092"]` (from `KAFKA_BROKERS`). */
  readonly brokers: readonly string[];
  /** clientId names this process in broker logs and quotas, e.g. `shopmesh-order`. */
  readonly clientId: string;
  readonly logger?: KafkaLogger | undefined;
}

/**
 * createKafkaClient builds the one kafkajs client a process uses, configured quietly: only kafkajs warnings and
 * errors reach the logger (as structured pino lines), since its INFO level logs every group join.
 */
export function createKafkaClient(options: KafkaClientOptions): Kafka {
  quietKafkajsNegativeTimeouts();
  const logger = options.logger ?? pino({ name: "kafka", level: "warn" });
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: logLevel.WARN,
    logCreator: toLogCreator(logger),
    retry: { initialRetryTime: 200, retries: 8 },
  });
}

/** parseBrokers splits a `KAFKA_BROKERS` value (`host:port,host:port`) into broker addresses. */
export function parseBrokers(value: string): string[] {
  return value
    .split(",")
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
}

function toLogCreator(logger: KafkaLogger): logCreator {
  return () =>
    ({ level, namespace, log }: LogEntry) => {
      const { message, timestamp: _timestamp, ...fields } = log;
      const line = { ...fields, namespace };
      if (level === logLevel.ERROR) logger.error(line, message);
      else logger.warn(line, message);
    };
}
