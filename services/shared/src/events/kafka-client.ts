import type { ConnectionOptions } from "node:tls";
import { Kafka, logLevel, type LogEntry, type logCreator, type RetryOptions } from "kafkajs";
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
  /**
   * ssl connects over TLS with these options (kafka-tls.ts builds them from the process's certificate, with
   * KAFKA_TLS=1); without it, plaintext. kafkajs reads the object at each new connection, so updating it in place
   * changes what the next connection presents.
   */
  readonly ssl?: ConnectionOptions | undefined;
  /** retry overrides the client's retry policy (default: 8 retries from 200 ms). */
  readonly retry?: RetryOptions | undefined;
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
    retry: options.retry ?? { initialRetryTime: 200, retries: 8 },
    ...(options.ssl ? { ssl: options.ssl } : {}),
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
