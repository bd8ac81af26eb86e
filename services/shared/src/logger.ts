import { pino, type Logger } from "pino";

export type { Logger };

/**
 * createLogger returns the process's one structured logger: JSON lines with a
 * `service` field, so `traceId`, `orderId` and `eventId` fields added by callers
 * can be searched across services. In a terminal (or with LOG_FORMAT=pretty) the
 * lines are pretty-printed for humans; LOG_LEVEL sets the level.
 */
export function createLogger(service: string, env: NodeJS.ProcessEnv = process.env): Logger {
  const level = env.LOG_LEVEL ?? "info";
  const pretty = env.LOG_FORMAT === "pretty" || (env.LOG_FORMAT !== "json" && process.stdout.isTTY === true);
  return pino({
    name: service,
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(pretty ? { transport: { target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname,service" } } } : {}),
  });
}
