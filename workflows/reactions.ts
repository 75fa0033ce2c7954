import { log, type CancellationScope } from '@temporalio/workflow';

/**
 * How the send workflow reacts to what happens, so that a workflow task's
 * events produce the same commands however the SDK hands them over.
 *
 * Live, sdk-core can hand one workflow task's events to the workflow in two
 * activations (the first inside a query task, when a worker answers a query
 * for a workflow whose worker died; README, "What a watcher's read costs");
 * on replay they come in one. Commands must come out in the same order either
 * way. They do if every event reaches its reaction at the same microtask
 * depth, each reaction issues its commands synchronously, and nothing else
 * issues commands: reactions then run, and command, in event order.
 */

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Runs `call` (an activity, a signal to another workflow) in `scope` and hands
 * its outcome to `react` in one callback: the single path every event takes.
 */
export function perform<T>(scope: CancellationScope, call: () => Promise<T>, react: (outcome: Outcome<T>) => void): void {
  void scope.run(call).then(
    (value) => react({ ok: true, value }),
    (error: unknown) => react({ ok: false, error }),
  );
}

/** What a signal or update handler performs, to react at the depth an event would. */
export const nothing = (): Promise<void> => Promise.resolve();

/**
 * Writes in the background, one write at a time; requests made while a write
 * runs collapse into one more, which reads the state as it is then, so the
 * last write always carries the latest value (a status, a projection). Each
 * write's end is a reaction like any other; `written` hears of it.
 */
export class LatestValueTask {
  private running = false;
  private wanted = false;

  constructor(
    private readonly scope: CancellationScope,
    private readonly write: () => Promise<unknown>,
    private readonly written: () => void,
  ) {}

  request(): void {
    if (this.running) this.wanted = true;
    else this.start();
  }

  /** Nothing being written, nothing waiting to be. */
  get idle(): boolean {
    return !this.running && !this.wanted;
  }

  private start(): void {
    this.running = true;
    this.wanted = false;
    perform(this.scope, this.write, (outcome) => {
      // Retries are the activity's; what still fails (e.g. the campaign row is gone) must not stop the send.
      if (!outcome.ok) log.error('background write failed', { error: String(outcome.error) });
      this.running = false;
      if (this.wanted) this.start();
      this.written();
    });
  }
}
