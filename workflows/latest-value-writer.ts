import { CancellationScope, condition, log, sleep } from '@temporalio/workflow';

export interface WriterOptions {
  /**
   * Space writes made back to back at least this far apart (a timer, whose firing is in the
   * history): a burst of requests costs one write per interval. A lone request is written at once.
   */
  minIntervalMs?: number;
}

/**
 * Runs `write` in the background, one at a time, never holding up the send.
 * Requests made while a write runs collapse into one more write, which reads
 * the state as it is then, so the last write always carries the latest value.
 * Used for the Aurora status and the Firestore projection.
 */
export class LatestValueWriter {
  private running = false;
  private wanted = false;

  constructor(
    private readonly write: () => Promise<void>,
    private readonly options: WriterOptions = {},
  ) {}

  request(): void {
    this.wanted = true;
    if (!this.running) void this.run();
  }

  async drain(): Promise<void> {
    await condition(() => !this.running && !this.wanted);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.wanted) {
        this.wanted = false;
        // Retries are the activity's; what still fails (e.g. the campaign row is gone) must not stop the send.
        await CancellationScope.nonCancellable(this.write).catch((error: unknown) => {
          log.error('background write failed', { error: String(error) });
        });
        const { minIntervalMs } = this.options;
        if (this.wanted && minIntervalMs !== undefined) await CancellationScope.nonCancellable(() => sleep(minIntervalMs));
      }
    } finally {
      this.running = false;
    }
  }
}
