import type { Logger } from "../logger.js";

/** StopStep is one named step of a graceful stop. */
export interface StopStep {
  readonly name: string;
  run(): unknown;
}

/**
 * StopSequence runs a service's stop steps once, in order, whoever asks and however often: a second `run()` returns
 * the first one's promise. A failing step is logged and the later steps still run (the database is closed even when
 * the broker is gone); the promise then rejects with every failure. `current` names the step in progress, so a
 * forced exit can say what it interrupted.
 */
export class StopSequence {
  private running: Promise<void> | undefined;
  private step: string | undefined;

  constructor(
    private readonly steps: readonly StopStep[],
    private readonly logger: Logger,
  ) {}

  /** current is the name of the step running now, or undefined before and after the stop. */
  get current(): string | undefined {
    return this.step;
  }

  run(): Promise<void> {
    this.running ??= this.runAll();
    return this.running;
  }

  private async runAll(): Promise<void> {
    const failures: unknown[] = [];
    for (const { name, run } of this.steps) {
      this.step = name;
      const started = performance.now();
      try {
        await run();
        this.logger.debug({ step: name, durationMs: Math.round(performance.now() - started) }, "stop step done");
      } catch (error) {
        failures.push(error);
        this.logger.error({ step: name, err: error }, "stop step failed; going on with the next");
      }
    }
    this.step = undefined;
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} stop step(s) failed`);
  }
}
