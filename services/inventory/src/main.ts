import { createLogger } from "#shared/logger.js";
import { runUntilSignalled } from "#shared/runtime.js";
import { startInventory } from "./app.js";
import { loadConfig } from "./config.js";

// The composition root: config from the environment, then the whole service, stopped gracefully on SIGTERM/SIGINT.
const logger = createLogger("inventory");
await runUntilSignalled(logger, () => startInventory(loadConfig(), { logger }));
