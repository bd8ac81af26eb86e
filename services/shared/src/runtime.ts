import type { Logger } from "./logger.js";

/** Stoppable is what a started service hands back to its main: one way to stop it gracefully. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * runUntilSignalled starts a service and stops it gracefully on SIGTERM or SIGINT.
 * A second signal, or a stop that outlasts `forceAfterMs`, exits at once: a stuck
 * drain must not keep a deploy (or Ctrl-C) waiting forever.
 */
export async function runUntilSignalled(
  logger: Logger,
  start: () => Promise<Stoppable>,
  forceAfterMs = 10_000,
): Promise<void> {
  let service: Stoppable;
  try {
    service = await start();
  } catch (error) {
    logger.fatal({ err: error }, "failed to start");
    process.exit(1);
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "stopping");
    setTimeout(() => {
      logger.error({ forceAfterMs }, "graceful stop took too long: exiting");
      process.exit(1);
    }, forceAfterMs).unref();
    service.stop().then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
