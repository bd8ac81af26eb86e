import { createLogger } from "#shared/logger.js";
import { runUntilSignalled } from "#shared/runtime.js";
import { startOrderService } from "./app.js";
import { loadConfig } from "./config.js";

// The order service's composition root: config → start → stop on SIGTERM/SIGINT.
const logger = createLogger("order");
await runUntilSignalled(logger, () => startOrderService(loadConfig(), { logger }));
