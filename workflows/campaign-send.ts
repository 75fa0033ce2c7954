import {
  ActivityCancellationType,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { BATCH_RESOLUTIONS, type SendProgress } from '../common/campaign.js';
import { failureReason, nextStatusVersion } from '../common/lifecycle.js';
import type { BatchStatus } from '../common/ledger.js';
import { CampaignStatusAttr } from '../common/search-attributes.js';
import { SendBook, type FinalStatus, type FollowUp } from '../common/send-book.js';
import { sendStatusSignal } from './campaign-lifecycle-api.js';
import {
  cancelSendSignal,
  cancelUpdate,
  pauseSendSignal,
  pauseUpdate,
  progressQuery,
  resolveBatchUpdate,
  resumeSendSignal,
  resumeUpdate,
  type CampaignSendInput,
  type CampaignSendResult,
  type ResolveBatchRequest,
} from './campaign-send-api.js';
import { campaignSendV1 } from './legacy/campaign-send-v1.js';
import { LatestValueWriter } from './latest-value-writer.js';

// ---------------------------------------------------------------- activities
// Every activity heartbeats or has a short start-to-close timeout, so a worker
// that dies anywhere costs seconds: Temporal retries the activity elsewhere.

const { snapshotAudiencePage } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

// sendBatch waits (heartbeating) for its slot in the domain's rate budget before it sends: on a
// busy domain that can take minutes, hence the long start-to-close; a dead worker is noticed by heartbeat.
// A cancel request reaching it while it waits gives the batch back unsent; once it has claimed the
// batch it finishes, and the workflow waits for whichever happened.
const { sendBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// Polls until Mailgun's logs prove a parked batch's outcome: each retry waits as long as the activity asks.
const { resolveBatchOutcome } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 1.5, maximumInterval: '30 seconds' },
});

const { setCampaignStatus, projectProgress, resolveUnknownBatch, abandonParkedBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});

// ---------------------------------------------------------------- helpers

/** The least time between two projections of the counts to Firestore made back to back. */
const PROJECTION_INTERVAL_MS = 1000;

/** Runs recorded before this marker are version 1 (workflows/legacy): they paced themselves on workflow time. */
export const SEND_ENGINE_PATCH = 'send-paced-by-domain-budget';

function validateResolveBatch(book: SendBook) {
  return ({ batchNo, as }: ResolveBatchRequest): void => {
    if (!(BATCH_RESOLUTIONS as readonly string[]).includes(as)) {
      throw new Error(`as: must be one of ${BATCH_RESOLUTIONS.join(', ')}, got ${JSON.stringify(as)}`);
    }
    if (!book.awaitsDecision(batchNo)) {
      const waiting = book.unknownBatches();
      throw new Error(
        `batchNo: batch ${JSON.stringify(batchNo)} is not waiting for an operator` +
          (waiting.length ? `; batches that are: ${waiting.join(', ')}` : '; no batch is'),
      );
    }
  };
}

// ---------------------------------------------------------------- the workflow

/**
 * Sends one campaign to its frozen audience, each recipient at most once.
 *
 * The audience is snapshotted once, a page at a time, and cut into fixed
 * batches; a batch goes out as soon as the page holding it is committed, so
 * sending overlaps the snapshot. Up to `window` sendBatch activities run at
 * once, and nothing else decides timing: each waits for its slot in the rate
 * budget of its sending domain (in Aurora, shared by every campaign and
 * worker), so no command here depends on what time the workflow thinks it is.
 * Exactly-once lives in the activities' send ledger; the bookkeeping of which
 * batch goes next is the pure SendBook.
 *
 * A batch whose request ended without a clear answer is parked outside the
 * window while resolveBatchOutcome waits for Mailgun's logs to prove what
 * happened; the rest of the campaign keeps sending. A batch no proof comes for
 * waits for an operator (`resolveBatch`), and the send finishes only when every
 * batch is settled. It continues as new every `batchesPerRun` batches (after
 * draining its window), so the history stays a few thousand events even for a
 * million recipients. The lifecycle owns the campaign's status: this workflow
 * reports its own (sending, paused, needs-attention) to it.
 */
export async function campaignSend(input: CampaignSendInput): Promise<CampaignSendResult> {
  if (!patched(SEND_ENGINE_PATCH)) return campaignSendV1(input);
  const { campaignId, options, lifecycleOwnsStatus = false } = input;
  const book = new SendBook(options.batchSize, input.carried);
  const resolution = new CancellationScope();
  /** The scope of each sendBatch running: pause and cancel withdraw those still waiting for their slot. */
  const running = new Map<number, CancellationScope>();
  /** A batch failed in a way retrying cannot fix (Mailgun refusing the sender, the campaign losing its content). */
  let fatal: Error | undefined;

  const stopping = (): boolean => book.cancelled || fatal !== undefined;
  const progress = (): SendProgress => ({ campaignId, status: book.status(), ...book.counts() });

  // Written in the background, in order, latest value wins: the Firestore projection of the counts
  // (at most about once a second while batches land in quick succession), and the lifecycle (this
  // send's parent), told each status change.
  const projector = new LatestValueWriter(() => projectProgress(progress()), { minIntervalMs: PROJECTION_INTERVAL_MS });
  const parent = workflowInfo().parent;
  const reporter = new LatestValueWriter(async () => {
    if (!parent) return;
    const { total, sent, failed } = book.counts();
    const why = fatal === undefined ? {} : { failureReason: failureReason(fatal) };
    await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(sendStatusSignal, { status: book.status(), total, sent, failed, ...why });
  });
  // Only under a version-1 lifecycle, which leaves the send phases to the send: versions stay comparable with its own.
  let statusVersion = input.carried?.statusVersion ?? 0;
  const ownStatus = lifecycleOwnsStatus
    ? undefined
    : new LatestValueWriter(() => setCampaignStatus(campaignId, book.status(), (statusVersion = nextStatusVersion(statusVersion, Date.now()))));
  // Drained in this order: the lifecycle hears of the end before Firestore (which may be down) has it.
  const writers = [reporter, ...(ownStatus ? [ownStatus] : []), projector];

  const statusChanged = (): void => {
    upsertSearchAttributes([{ key: CampaignStatusAttr, value: book.status() }]);
    for (const writer of writers) writer.request();
  };
  const steered = (changed: boolean): SendProgress => {
    if (changed) statusChanged();
    return progress();
  };
  /** Pause and cancel stop what has not gone out yet: batches still waiting for their slot are withdrawn. */
  const held = (changed: boolean): SendProgress => {
    if (changed) for (const scope of running.values()) scope.cancel();
    return steered(changed);
  };
  const fail = (error: unknown): void => {
    fatal ??= error instanceof Error ? error : new Error(String(error));
  };

  /** Does what the book says a batch needs next. */
  function follow(batchNo: number, next: FollowUp): void {
    if (next === 'park') seekProof(batchNo);
    if (next === 'operator') {
      log.warn('batch outcome unknown: waiting for an operator', { campaignId, batchNo });
      statusChanged();
    }
    projector.request();
  }

  function launch(): void {
    const batch = book.launch();
    const ceiling = options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond };
    const scope = new CancellationScope();
    running.set(batch.batchNo, scope);
    // Batches are never cancelled half-way: a sendBatch that has claimed its batch finishes and lands in the ledger.
    void scope
      .run(() => sendBatch({ campaignId, batch, ...ceiling }))
      .then(
        (status) => follow(batch.batchNo, book.landed(status)),
        (error: unknown) => {
          if (isCancellation(error)) return book.withdrawn(batch.batchNo);
          book.lost(batch.batchNo);
          fail(error);
        },
      )
      .finally(() => running.delete(batch.batchNo));
  }

  function seekProof(batchNo: number): void {
    if (stopping()) return; // abandoned below, not resolved
    void resolution.run(() => resolveBatchOutcome({ campaignId, batch: book.plan(batchNo) })).then(
      (status) => follow(batchNo, book.proven(status)),
      (error: unknown) => {
        if (!isCancellation(error)) fail(error); // a cancelled resolution leaves the batch parked, to be abandoned
      },
    );
  }

  /** A cancelled or failed send stops waiting for proof: parked parts become 'unknown'. */
  async function abandonParked(): Promise<void> {
    resolution.cancel();
    for (const batchNo of book.parkedBatches()) {
      follow(batchNo, book.proven(await abandonParkedBatch({ campaignId, batch: book.plan(batchNo) })));
    }
  }

  async function decide({ batchNo, as }: ResolveBatchRequest): Promise<SendProgress> {
    if (!book.awaitsDecision(batchNo)) return progress(); // a second request: already handled
    book.beginDecision(batchNo);
    let status: BatchStatus;
    try {
      status = await CancellationScope.nonCancellable(() => resolveUnknownBatch({ campaignId, batch: book.plan(batchNo), as }));
    } catch (error) {
      book.decisionFailed(batchNo);
      throw error;
    }
    follow(batchNo, book.decided(status));
    return steered(true);
  }

  setHandler(progressQuery, progress);
  setHandler(pauseUpdate, () => held(book.pause()));
  setHandler(resumeUpdate, () => steered(book.resume()));
  setHandler(cancelUpdate, () => held(book.cancel()));
  setHandler(pauseSendSignal, () => void held(book.pause()));
  setHandler(resumeSendSignal, () => void steered(book.resume()));
  setHandler(cancelSendSignal, () => void held(book.cancel()));
  setHandler(resolveBatchUpdate, decide, { validator: validateResolveBatch(book) });

  let rollOver = false;
  try {
    if (!input.carried) statusChanged();
    void freezeAudience();
    for (const batchNo of book.parkedBatches()) seekProof(batchNo); // parked by the previous run
    if (book.unknownBatches().length > 0) statusChanged();
    projector.request();
    for (;;) {
      await condition(() => stopping() || book.settled() || book.canLaunch(options.window));
      if (stopping() || book.settled()) break;
      // A count decides, not the server's continueAsNewSuggested: a task run inside a query (see README,
      // "What a watcher's read costs") would see that flag as stale as its clock.
      if (book.launchedThisRun >= options.batchesPerRun) {
        rollOver = true;
        break;
      }
      launch();
    }
    await CancellationScope.nonCancellable(() => condition(() => book.inFlightBatches === 0));
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // Cancelled from Temporal itself (UI, CLI): let in-flight batches land, then record it.
    await CancellationScope.nonCancellable(async () => {
      await condition(() => book.inFlightBatches === 0);
      book.cancel();
      await abandonParked();
      await finish('cancelled');
    });
    throw error;
  }

  if (fatal !== undefined) {
    await abandonParked();
    await finish('failed');
    throw fatal;
  }
  if (book.cancelled) {
    await abandonParked();
    return complete('cancelled');
  }
  if (rollOver) {
    await condition(allHandlersFinished);
    for (const writer of writers) await writer.drain();
    return continueAsNew<typeof campaignSend>({
      campaignId,
      options,
      ...(lifecycleOwnsStatus ? { lifecycleOwnsStatus } : {}),
      carried: { ...book.carry(), ...(ownStatus ? { statusVersion } : {}) },
    });
  }
  return complete('sent');

  /** Freezes the audience page by page, in the background; each page's batches may go out at once. */
  async function freezeAudience(): Promise<void> {
    try {
      while (!book.counts().audienceComplete && !stopping()) {
        const page = await snapshotAudiencePage(campaignId);
        book.audienceFrozen(page.frozen, page.complete);
        projector.request();
      }
    } catch (error) {
      if (!isCancellation(error)) fail(error); // e.g. the campaign has no content: the send fails visibly
    }
  }

  async function complete(outcome: 'sent' | 'cancelled'): Promise<CampaignSendResult> {
    await finish(outcome);
    await condition(allHandlersFinished);
    const { total, sent, failed, unknownBatches } = book.counts();
    return { campaignId, status: outcome, total, sent, failed, unknownBatches };
  }

  async function finish(final: FinalStatus): Promise<void> {
    book.close(final);
    statusChanged();
    for (const writer of writers) await writer.drain();
  }
}
