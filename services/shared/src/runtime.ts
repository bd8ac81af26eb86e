import type { Logger } from "./logger.js";

/** Stoppable is what a started service hands back to its main: one way to stop it gracefully. */
export interface Stoppable {
  stop(): Promise<void>;
  /**
   * stopBudgetMs is the longest a graceful stop may take (for the kit: drain delay + grace + close budget); the
   * forced exit waits that long. Without it, runUntilSignalled's `forceAfterMs` applies.
   */
  readonly stopBudgetMs?: number;
  /** stopProgress names the stop step still running, for the forced exit's log line. */
  stopProgress?(): string | undefined;
}

/** FORCE_AFTER_MS is the stop budget of a service that does not state its own (the gateway). */
const FORCE_AFTER_MS = 10_000;

/**
 * runUntilSignalled starts a service and stops it gracefully on SIGTERM or SIGINT, exiting 0 once it stopped. A
 * second signal exits at once, and a stop that outlasts the service's stop budget exits 1 naming the step that was
 * still running: a stuck drain must not keep a deploy (or Ctrl-C) waiting forever. A failed start exits 1.
 */
export async function runUntilSignalled(logger: Logger, start: () => Promise<Stoppable>, forceAfterMs = FORCE_AFTER_MS): Promise<void> {
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
      logger.warn({ signal, step: service.stopProgress?.() }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    const budgetMs = service.stopBudgetMs ?? forceAfterMs;
    logger.info({ signal, budgetMs }, "stopping");
    // Not unref'd: a stop step waiting on a promise no socket or timer keeps alive would otherwise let the process
    // drain out and exit 0 half stopped; this timer keeps it alive until the stop ends or the budget is spent.
    setTimeout(() => {
      const step = service.stopProgress?.() ?? "unknown";
      logger.error({ budgetMs, step }, `graceful stop took longer than its budget: exiting while "${step}" was still running`);
      process.exit(1);
    }, budgetMs);
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
