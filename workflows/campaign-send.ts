import {
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { Activities, BatchOutcome } from '../activities/index.js';
import { batchCount, planBatch } from '../common/batches.js';
import type { CampaignStatus, SendProgress } from '../common/campaign.js';
import { CampaignStatusAttr } from '../common/search-attributes.js';
import { RateGovernor } from '../common/rate-governor.js';
import {
  cancelUpdate,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  type CampaignSendInput,
  type CampaignSendResult,
  type CarriedState,
} from './campaign-send-api.js';

// ---------------------------------------------------------------- activities

const { snapshotAudience, setCampaignStatus } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const { sendBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '3 minutes',
  // A killed worker's batch is retried on another worker after this long, not after the full timeout.
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { projectProgress } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

// ---------------------------------------------------------------- the workflow

/**
 * Sends one campaign to its frozen audience, each recipient at most once.
 *
 * The audience is snapshotted once, cut into fixed batches, and sent through a
 * sliding window of `window` concurrent sendBatch activities, paced to
 * `ratePerSecond` and slowed when Mailgun answers 429. Exactly-once lives in the
 * activity's send ledger; this workflow only decides which batch goes next.
 * It continues as new every `batchesPerRun` batches (after draining its window),
 * so the history stays a few thousand events even for a million recipients.
 */
export async function campaignSend(input: CampaignSendInput): Promise<CampaignSendResult> {
  const { campaignId, options } = input;
  const carried = input.carried ?? initialState();
  let { total, nextBatch, sent, failed, batchesDone, paused, cancelRequested } = carried;
  let batchesTotal = batchCount(total, options.batchSize);
  const governor = new RateGovernor(options.ratePerSecond, carried.rate);
  const inFlight = new Map<number, number>(); // batchNo -> recipients
  let startedThisRun = 0;
  /** A batch that failed in a way retrying cannot fix (e.g. the audience changed under it). */
  let fatal: Error | undefined;

  let finalStatus: 'sent' | 'cancelled' | 'failed' | undefined;
  const status = (): CampaignStatus => finalStatus ?? (cancelRequested ? 'cancelled' : paused ? 'paused' : 'sending');
  const progress = (): SendProgress => ({
    campaignId,
    status: status(),
    total,
    sent,
    failed,
    inFlight: [...inFlight.values()].reduce((a, b) => a + b, 0),
    paused,
    batchesTotal,
    batchesDone,
  });

  // Aurora status and the Firestore projection are written in the background, in order, latest value wins.
  const statusWriter = new LatestValueWriter(() => setCampaignStatus(campaignId, status()));
  const projector = new LatestValueWriter(() => projectProgress(progress()));
  const statusChanged = (): void => {
    upsertSearchAttributes([{ key: CampaignStatusAttr, value: status() }]);
    statusWriter.request();
    projector.request();
  };

  setHandler(progressQuery, progress);
  setHandler(pauseUpdate, () => {
    if (!paused && !cancelRequested && finalStatus === undefined) {
      paused = true;
      statusChanged();
    }
    return progress();
  });
  setHandler(resumeUpdate, () => {
    if (paused && !cancelRequested && finalStatus === undefined) {
      paused = false;
      statusChanged();
    }
    return progress();
  });
  setHandler(cancelUpdate, () => {
    if (!cancelRequested && finalStatus === undefined) {
      cancelRequested = true;
      statusChanged();
    }
    return progress();
  });

  const onOutcome = (outcome: BatchOutcome): void => {
    inFlight.delete(outcome.batchNo);
    batchesDone++;
    if (outcome.state === 'accepted') sent += outcome.recipients;
    else {
      failed += outcome.recipients;
      log.warn('batch failed permanently', { campaignId, batchNo: outcome.batchNo, error: outcome.error });
    }
    governor.observe(outcome.rateLimitedMs, Date.now());
    projector.request();
  };

  const launch = (batchNo: number): void => {
    const batch = planBatch(total, options.batchSize, batchNo);
    inFlight.set(batchNo, batch.size);
    startedThisRun++;
    governor.started(batch.size, Date.now());
    // Batches are never cancelled half-way: once started they finish and land in the ledger.
    void CancellationScope.nonCancellable(() => sendBatch({ campaignId, batch })).then(onOutcome, (error: unknown) => {
      inFlight.delete(batchNo);
      fatal ??= error instanceof Error ? error : new Error(String(error));
    });
  };

  try {
    if (!input.carried) {
      total = await freezeAudience();
      batchesTotal = batchCount(total, options.batchSize);
    }
    projector.request();
    while (nextBatch < batchesTotal && !cancelRequested && fatal === undefined) {
      await condition(() => cancelRequested || fatal !== undefined || (!paused && inFlight.size < options.window));
      if (cancelRequested || fatal !== undefined) break;
      if (startedThisRun >= options.batchesPerRun || workflowInfo().continueAsNewSuggested) break;
      const waitMs = governor.delayBeforeNext(Date.now());
      if (waitMs > 0) {
        await sleep(waitMs);
        continue; // pause or cancel may have arrived meanwhile
      }
      launch(nextBatch++);
    }
    await CancellationScope.nonCancellable(() => condition(() => inFlight.size === 0));
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // Cancelled from Temporal itself (UI, CLI): let in-flight batches land, then record it.
    await CancellationScope.nonCancellable(async () => {
      await condition(() => inFlight.size === 0);
      cancelRequested = true;
      await finish('cancelled');
    });
    throw error;
  }

  if (fatal !== undefined) {
    await finish('failed');
    throw fatal;
  }

  if (!cancelRequested && nextBatch < batchesTotal) {
    await condition(allHandlersFinished);
    await statusWriter.drain();
    await projector.drain();
    return continueAsNew<typeof campaignSend>({
      campaignId,
      options,
      carried: { total, nextBatch, sent, failed, batchesDone, paused, cancelRequested, rate: governor.state() },
    });
  }

  const outcome = cancelRequested ? 'cancelled' : 'sent';
  await finish(outcome);
  await condition(allHandlersFinished);
  return { campaignId, status: outcome, total, sent, failed };

  /** First run only: mark the campaign sending and freeze its audience; returns its size. */
  async function freezeAudience(): Promise<number> {
    statusChanged();
    try {
      return (await snapshotAudience(campaignId)).total;
    } catch (error) {
      if (!isCancellation(error)) await finish('failed');
      throw error;
    }
  }

  async function finish(final: 'sent' | 'cancelled' | 'failed'): Promise<void> {
    finalStatus = final;
    statusChanged();
    await statusWriter.drain();
    await projector.drain();
  }
}

function initialState(): CarriedState {
  return {
    total: 0,
    nextBatch: 0,
    sent: 0,
    failed: 0,
    batchesDone: 0,
    paused: false,
    cancelRequested: false,
    rate: RateGovernor.initialState(),
  };
}

/**
 * Runs `write` in the background, one at a time, never holding up the send.
 * Requests made while a write runs collapse into one more write, which reads
 * the state as it is then, so the last write always carries the latest value.
 * Used for the Aurora status and the Firestore projection.
 */
class LatestValueWriter {
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
