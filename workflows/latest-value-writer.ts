import { CancellationScope, condition, log } from '@temporalio/workflow';

/**
 * Runs `write` in the background, one at a time, never holding up the send.
 * Requests made while a write runs collapse into one more write, which reads
 * the state as it is then, so the last write always carries the latest value.
 * Used for the Aurora status and the Firestore projection.
 */
export class LatestValueWriter {
  private running = false;
  private wanted = false;

  constructor(private readonly write: () => Promise<void>) {}

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
      }
    } finally {
      this.running = false;
    }
  }
}
