import { createLogger } from "#shared/logger.js";
import { runUntilSignalled } from "#shared/runtime.js";
import { startNotification } from "./app.js";
import { loadConfig } from "./config.js";

// The composition root: configuration and the process lifetime. Wiring lives in app.ts, so tests start the same
// service in-process.
const logger = createLogger("notification");
await runUntilSignalled(logger, () => startNotification(loadConfig(), { logger }));
