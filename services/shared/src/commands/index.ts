/**
 * The command bus (command-bus.ts): one interface, two adapters, picked by COMMAND_BUS through the one config loader.
 */
import type { CommandBusSettings } from "../config.js";
import type { Logger } from "../logger.js";
import type { CommandBus, CommandLedger } from "./command-bus.js";
import { createRabbitCommandBus } from "./rabbitmq-command-bus.js";
import { createSqsCommandBus } from "./sqs-command-bus.js";

export * from "./command-bus.js";
export { MalformedCommandError } from "./codec.js";
export { memoryCommandLedger, sqliteCommandLedger } from "./ledger.js";
export { CommandQueues } from "./queues.js";
export { createRabbitCommandBus } from "./rabbitmq-command-bus.js";
export { createSqsCommandBus } from "./sqs-command-bus.js";

/**
 * createCommandBus builds the adapter the settings name. goaws accepts any credentials, so the SQS adapter is given
 * placeholder ones when the endpoint is local and AWS_ACCESS_KEY_ID is not set; elsewhere the SDK finds real ones.
 */
export function createCommandBus(
  settings: CommandBusSettings,
  deps: {
    ledger: CommandLedger;
    logger?: Logger | undefined;
    connectionName?: string | undefined;
    env?: NodeJS.ProcessEnv;
    waitTimeSeconds?: number;
  },
): CommandBus {
  if (settings.kind === "rabbitmq") {
    return createRabbitCommandBus({
      url: settings.url,
      ledger: deps.ledger,
      logger: deps.logger,
      sendTimeoutMs: settings.sendTimeoutMs,
      connectionName: deps.connectionName,
    });
  }
  const env = deps.env ?? process.env;
  const local = /^https?:\/\/(127\.0\.0\.1|localhost)(:|\/|$)/.test(settings.endpoint);
  return createSqsCommandBus({
    endpoint: settings.endpoint,
    region: settings.region,
    ledger: deps.ledger,
    logger: deps.logger,
    sendTimeoutMs: settings.sendTimeoutMs,
    waitTimeSeconds: deps.waitTimeSeconds,
    credentials: local && !env["AWS_ACCESS_KEY_ID"] ? { accessKeyId: "goaws", secretAccessKey: "goaws" } : undefined,
  });
}
