import { createLogger } from "#shared/logger.js";
import { runUntilSignalled } from "#shared/runtime.js";
import { startGateway } from "./app.js";
import { loadConfig } from "./config.js";

// The gateway's composition root: config (a bad one fails here, naming the variable) → start → stop on SIGTERM.
const logger = createLogger("gateway");
await runUntilSignalled(logger, () => startGateway(loadConfig(), { logger }));
