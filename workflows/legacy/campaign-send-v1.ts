import {
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { batchCount, planBatch, type BatchPlan } from '../../common/batches.js';
import { BATCH_RESOLUTIONS, type CampaignStatus, type SendProgress } from '../../common/campaign.js';
import { nextStatusVersion } from '../../common/lifecycle.js';
import { routeBatch, type BatchStatus } from '../../common/ledger.js';
import { CampaignStatusAttr } from '../../common/search-attributes.js';
import { RateGovernor } from '../../common/rate-governor.js';
import { sendStatusSignal } from '../campaign-lifecycle-api.js';
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
  type CarriedState,
  type OpenBatch,
  type ResolveBatchRequest,
} from '../campaign-send-api.js';
import { LatestValueWriter } from '../latest-value-writer.js';

// ---------------------------------------------------------------- activities
// Every activity heartbeats or has a short start-to-close timeout, so a worker
// that dies anywhere costs seconds: Temporal retries the activity elsewhere.

const { snapshotAudiencePage } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const { sendBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '10 seconds',
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

// ---------------------------------------------------------------- the workflow

interface Counted {
  sent: number;
  failed: number;
}

/**
 * The send engine as it ran before pacing moved into sendBatch (version 1),
 * kept verbatim so that runs begun on it replay as they were recorded:
 * `campaignSend` hands such runs here (its `patched` check fails for them).
 * It paces batch starts itself with a RateGovernor on workflow time, writes
 * the campaign's status itself, and continues as new into the current engine.
 * Remove it (and `deprecatePatch` the check) once no run of it is open.
 */
export async function campaignSendV1(input: CampaignSendInput): Promise<CampaignSendResult> {
  const { campaignId, options } = input;
  const carried = input.carried ?? initialState();
  let { total, nextBatch, sent, failed, batchesDone, paused, cancelRequested, statusVersion = 0, audienceComplete } = carried;
  let batchesTotal = batchCount(total, options.batchSize);
  const governor = new RateGovernor(options.ratePerSecond ?? LEGACY_RATE_PER_SECOND, carried.rate);
  /** Batches started and not done, with what they had counted so far. */
  const open = new Map<number, Counted>();
  /** sendBatch running: each holds a window slot. batchNo -> recipients. */
  const inFlight = new Map<number, number>();
  /** Outcome unknown, resolveBatchOutcome running: outside the window. */
  const parked = new Set<number>();
  /** No proof in time: waiting for an operator. */
  const unknown = new Set<number>();
  /** Unknown batches an operator's decision is being recorded for. */
  const resolving = new Set<number>();
  /** Batches with parts proven unsent: they go before new batches. */
  const resendQueue: number[] = [];
  const resolution = new CancellationScope();
  let startedThisRun = 0;
  /** A batch failed in a way retrying cannot fix (e.g. the campaign lost its content). */
  let fatal: Error | undefined;
  let finalStatus: 'sent' | 'cancelled' | 'failed' | undefined;

  const plan = (batchNo: number): BatchPlan => planBatch(total, options.batchSize, batchNo);
  const stopping = (): boolean => cancelRequested || fatal !== undefined;
  /** Batches whose recipients are frozen: all of them once the snapshot is complete, else the full ones so far. */
  const sendable = (): number => (audienceComplete ? batchesTotal : Math.floor(total / options.batchSize));
  const hasWork = (): boolean => resendQueue.length > 0 || nextBatch < sendable();
  const settled = (): boolean =>
    audienceComplete && !hasWork() && inFlight.size === 0 && parked.size === 0 && unknown.size === 0;
  const status = (): CampaignStatus =>
    finalStatus ??
    (cancelRequested ? 'cancelled' : unknown.size > 0 ? 'needs-attention' : paused ? 'paused' : 'sending');
  const progress = (): SendProgress => ({
    campaignId,
    status: status(),
    total,
    sent,
    failed,
    inFlight: [...inFlight.values()].reduce((a, b) => a + b, 0),
    paused,
    batchesTotal: sendable(),
    batchesDone,
    audienceComplete,
    parkedBatches: [...parked].sort((a, b) => a - b),
    unknownBatches: [...unknown].sort((a, b) => a - b),
  });

  // Aurora status and the Firestore projection are written in the background, in order, latest value wins.
  const statusWriter = new LatestValueWriter(() =>
    setCampaignStatus(campaignId, status(), (statusVersion = nextStatusVersion(statusVersion, Date.now()))),
  );
  const projector = new LatestValueWriter(() => projectProgress(progress()));
  // A send started by a campaign's lifecycle workflow tells it each status change.
  const parent = workflowInfo().parent;
  const reporter = new LatestValueWriter(async () => {
    if (!parent) return;
    await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(sendStatusSignal, { status: status(), total, sent, failed });
  });
  const statusChanged = (): void => {
    upsertSearchAttributes([{ key: CampaignStatusAttr, value: status() }]);
    statusWriter.request();
    projector.request();
    reporter.request();
  };

  /** Takes a batch's latest status into the counts and sends it where it needs to go next. */
  const route = (batch: BatchStatus): void => {
    const before = open.get(batch.batchNo) ?? { sent: 0, failed: 0 };
    sent += batch.sent - before.sent;
    failed += batch.failed - before.failed;
    const next = routeBatch(batch);
    if (next === 'done') {
      open.delete(batch.batchNo);
      batchesDone++;
    } else {
      open.set(batch.batchNo, { sent: batch.sent, failed: batch.failed });
    }
    if (next === 'send') resendQueue.push(batch.batchNo);
    if (next === 'resolve') park(batch.batchNo);
    if (next === 'operator') {
      unknown.add(batch.batchNo);
      log.warn('batch outcome unknown: waiting for an operator', { campaignId, batchNo: batch.batchNo });
      statusChanged();
    }
    projector.request();
  };

  const fail = (error: unknown): void => {
    fatal ??= error instanceof Error ? error : new Error(String(error));
  };

  const launch = (batchNo: number): void => {
    const batch = plan(batchNo);
    inFlight.set(batchNo, batch.size);
    startedThisRun++;
    governor.started(batch.size, Date.now());
    // Batches are never cancelled half-way: once started they finish and land in the ledger.
    // Asked without `brake`, sendBatch always answers with the batch's status.
    void CancellationScope.nonCancellable(() => sendBatch({ campaignId, batch }) as Promise<BatchStatus>).then((outcome) => {
      inFlight.delete(batchNo);
      governor.observe(outcome.rateLimitedMs, Date.now());
      route(outcome);
    }, (error: unknown) => {
      inFlight.delete(batchNo);
      fail(error);
    });
  };

  function park(batchNo: number): void {
    parked.add(batchNo);
    if (cancelRequested || fatal !== undefined) return; // abandoned below, not resolved
    void resolution.run(() => resolveBatchOutcome({ campaignId, batch: plan(batchNo) })).then((outcome) => {
      parked.delete(batchNo);
      route(outcome);
    }, (error: unknown) => {
      if (!isCancellation(error)) fail(error); // a cancelled resolution leaves the batch parked, to be abandoned
    });
  }

  /** A cancelled or failed send stops waiting for proof: parked parts become 'unknown'. */
  async function abandonParked(): Promise<void> {
    resolution.cancel();
    for (const batchNo of [...parked]) {
      const outcome = await abandonParkedBatch({ campaignId, batch: plan(batchNo) });
      parked.delete(batchNo);
      route(outcome);
    }
  }

  const pause = (): SendProgress => {
    if (!paused && !cancelRequested && finalStatus === undefined) {
      paused = true;
      statusChanged();
    }
    return progress();
  };
  const resume = (): SendProgress => {
    if (paused && !cancelRequested && finalStatus === undefined) {
      paused = false;
      statusChanged();
    }
    return progress();
  };
  const cancel = (): SendProgress => {
    if (!cancelRequested && finalStatus === undefined) {
      cancelRequested = true;
      statusChanged();
    }
    return progress();
  };
  setHandler(progressQuery, progress);
  setHandler(pauseUpdate, pause);
  setHandler(resumeUpdate, resume);
  setHandler(cancelUpdate, cancel);
  setHandler(pauseSendSignal, () => void pause());
  setHandler(resumeSendSignal, () => void resume());
  setHandler(cancelSendSignal, () => void cancel());
  setHandler(
    resolveBatchUpdate,
    async ({ batchNo, as }) => {
      if (!unknown.has(batchNo) || resolving.has(batchNo)) return progress(); // a second request: already handled
      resolving.add(batchNo); // stays unknown (the send cannot finish) until the ledger says what is next
      try {
        const outcome = await CancellationScope.nonCancellable(() => resolveUnknownBatch({ campaignId, batch: plan(batchNo), as }));
        unknown.delete(batchNo);
        route(outcome);
      } finally {
        resolving.delete(batchNo);
      }
      statusChanged();
      return progress();
    },
    {
      validator: (request: ResolveBatchRequest) => {
        const { batchNo, as } = request;
        if (!(BATCH_RESOLUTIONS as readonly string[]).includes(as)) {
          throw new Error(`as: must be one of ${BATCH_RESOLUTIONS.join(', ')}, got ${JSON.stringify(as)}`);
        }
        if (!unknown.has(batchNo) || resolving.has(batchNo)) {
          const waiting = [...unknown].sort((a, b) => a - b);
          throw new Error(
            `batchNo: batch ${JSON.stringify(batchNo)} is not waiting for an operator` +
              (waiting.length ? `; batches that are: ${waiting.join(', ')}` : '; no batch is'),
          );
        }
      },
    },
  );

  let rollOver = false;

  try {
    if (!input.carried) statusChanged();
    void freezeAudience();
    reopen(carried.open);
    projector.request();
    for (;;) {
      await condition(() => stopping() || settled() || (hasWork() && !paused && inFlight.size < options.window));
      if (stopping() || settled()) break;
      if (startedThisRun >= options.batchesPerRun || workflowInfo().continueAsNewSuggested) {
        rollOver = true;
        break;
      }
      const waitMs = governor.delayBeforeNext(Date.now());
      if (waitMs > 0) {
        await sleep(waitMs);
        continue; // pause or cancel may have arrived meanwhile
      }
      launch(resendQueue.shift() ?? nextBatch++);
    }
    await CancellationScope.nonCancellable(() => condition(() => inFlight.size === 0));
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // Cancelled from Temporal itself (UI, CLI): let in-flight batches land, then record it.
    await CancellationScope.nonCancellable(async () => {
      await condition(() => inFlight.size === 0);
      cancelRequested = true;
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
  if (cancelRequested) {
    await abandonParked();
    return complete('cancelled');
  }
  if (rollOver) {
    await condition(allHandlersFinished);
    await statusWriter.drain();
    await projector.drain();
    await reporter.drain();
    return continueAsNew<typeof campaignSendV1>({ campaignId, options, carried: carry() });
  }
  return complete('sent');

  /** Freezes the audience page by page, in the background; each page's batches may go out at once. */
  async function freezeAudience(): Promise<void> {
    try {
      while (!audienceComplete && !stopping()) {
        const page = await snapshotAudiencePage(campaignId);
        total = page.frozen;
        audienceComplete = page.complete;
        if (audienceComplete) batchesTotal = batchCount(total, options.batchSize);
        projector.request();
      }
    } catch (error) {
      if (!isCancellation(error)) fail(error); // e.g. the campaign has no content: the send fails visibly
    }
  }

  /** A continued run picks up the batches its predecessor left open. */
  function reopen(batches: OpenBatch[]): void {
    for (const { batchNo, sent: s, failed: f, needs } of batches) {
      open.set(batchNo, { sent: s, failed: f });
      if (needs === 'send') resendQueue.push(batchNo);
      if (needs === 'resolve') park(batchNo);
      if (needs === 'operator') unknown.add(batchNo);
    }
    if (unknown.size > 0) statusChanged();
  }

  function carry(): CarriedState {
    const needs = (batchNo: number): OpenBatch['needs'] =>
      unknown.has(batchNo) ? 'operator' : parked.has(batchNo) ? 'resolve' : 'send';
    return {
      total,
      nextBatch,
      sent,
      failed,
      batchesDone,
      paused,
      cancelRequested,
      rate: governor.state(),
      statusVersion,
      audienceComplete,
      open: [...open].map(([batchNo, counted]) => ({ batchNo, ...counted, needs: needs(batchNo) })),
    };
  }

  async function complete(outcome: 'sent' | 'cancelled'): Promise<CampaignSendResult> {
    await finish(outcome);
    await condition(allHandlersFinished);
    return { campaignId, status: outcome, total, sent, failed, unknownBatches: [...unknown].sort((a, b) => a - b) };
  }

  async function finish(final: 'sent' | 'cancelled' | 'failed'): Promise<void> {
    finalStatus = final;
    statusChanged();
    await statusWriter.drain();
    await projector.drain();
    await reporter.drain();
  }
}

/** Version 1 always ran with a rate; this stands in only for a type that now leaves it optional. */
const LEGACY_RATE_PER_SECOND = 500;

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
    statusVersion: 0,
    audienceComplete: false,
    open: [],
  };
}
