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
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { actorOf, BATCH_RESOLUTIONS, SYSTEM_ACTOR, TEMPORAL_ACTOR, type CampaignStatus, type SendProgress, type Steering } from '../common/campaign.js';
import { failureReason, nextStatusVersion } from '../common/lifecycle.js';
import { CampaignStatusAttr } from '../common/search-attributes.js';
import type { BatchPlan } from '../common/batches.js';
import type { BrakeTrip } from '../common/brake.js';
import type { BatchStatus } from '../common/ledger.js';
import { roundBatch } from '../common/retries.js';
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
import { LatestValueTask, nothing, perform } from './reactions.js';

// ---------------------------------------------------------------- activities
// Every activity heartbeats or has a short start-to-close timeout, so a worker
// that dies anywhere costs seconds: Temporal retries the activity elsewhere.

const { snapshotAudiencePage, freezeRetryRound } = proxyActivities<Activities>({
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

const { setCampaignStatus, setRetryStatus, projectProgress, resolveUnknownBatch, abandonParkedBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});

// ---------------------------------------------------------------- helpers

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
 * Everything is a reaction to an event (an activity's outcome, a signal, an
 * update), taken through `perform` and issuing its commands at once: see
 * workflows/reactions.ts for why the commands then come out the same live and
 * on replay, whatever the SDK does with a query on a dead worker's workflow.
 * `advance` starts what may start after each event and decides when the run is
 * over; the workflow function only waits for that.
 *
 * A batch whose request ended without a clear answer is parked outside the
 * window while resolveBatchOutcome waits for Mailgun's logs to prove what
 * happened; the rest of the campaign keeps sending. A batch no proof comes for
 * waits for an operator (`resolveBatch`), and the send finishes only when every
 * batch is settled. It continues as new every `batchesPerRun` batches (after
 * draining its window), so the history stays a few thousand events even for a
 * million recipients. The lifecycle owns the campaign's status: this workflow
 * reports its own (sending, paused, needs-attention, and how it ended) to it.
 */
export async function campaignSend(input: CampaignSendInput): Promise<CampaignSendResult> {
  if (!patched(SEND_ENGINE_PATCH)) return campaignSendV1(input);
  const { campaignId, options, lifecycleOwnsStatus = false, retry } = input;
  const book = new SendBook(options.batchSize, input.carried);
  const root = CancellationScope.current();
  /** Writes, abandoning parked batches and operators' decisions: they finish whatever happens to the run. */
  const shielded = new CancellationScope({ cancellable: false, parent: root });
  /** The audience snapshot: a cancelled run stops it. */
  const snapshot = new CancellationScope({ cancellable: true, parent: root });
  /** Proofs of parked batches: a cancelled or failed send stops seeking them. */
  const proofs = new CancellationScope({ cancellable: true, parent: root });
  /** The scope of each sendBatch running: pause and cancel withdraw those still waiting for their slot. */
  const running = new Map<number, CancellationScope>();
  /** A batch failed in a way retrying cannot fix (Mailgun refusing the sender, the campaign losing its content). */
  let fatal: Error | undefined;
  let rollOver = false;
  let abandoning: number | undefined;
  /** How this run ends, once decided: the send's final status, or a continue-as-new. */
  let ending: FinalStatus | 'continue' | undefined;
  /** Ended, and every write of it made. */
  let done = false;
  /** Who made the latest status change: an operator's request, or (undefined) the send itself. */
  let statusActor: string | undefined;
  let statusSeen: CampaignStatus | undefined;
  /** A retry round's first ordinal, once its recipients are frozen: its batches are the ledger's from there. */
  let roundStart = retry?.firstOrdinal;
  /** A batch as the ledger has it: a retry round's batch numbers and ordinals follow every earlier round's. */
  const inLedger = (batch: BatchPlan): BatchPlan => (roundStart === undefined ? batch : roundBatch(batch, roundStart));
  /** A status the ledger gave, under the batch number the book knows it by. */
  const booked = (batchNo: number, status: BatchStatus): BatchStatus => ({ ...status, batchNo });

  const stopping = (): boolean => book.cancelled || fatal !== undefined || root.consideredCancelled;
  const progress = (): SendProgress => ({ campaignId, status: book.status(), ...book.counts() });
  const fail = (error: unknown): void => {
    fatal ??= error instanceof Error ? error : new Error(String(error));
  };

  // Written in the background, latest value wins: the Firestore projection of the counts, and the
  // lifecycle (this send's parent), told each status change.
  // A retry round's counts are its own, never the campaign's progress.
  const projector = new LatestValueTask(shielded, () => (retry ? Promise.resolve() : projectProgress(progress())), advance);
  const parent = workflowInfo().parent;
  // (A plain call, not an async function: its outcome must take as many steps to react to as an activity's.)
  const reporter = new LatestValueTask(
    shielded,
    () => {
      if (!parent) return Promise.resolve();
      const { total, sent, failed, attention } = book.counts();
      const why = fatal === undefined ? {} : { failureReason: failureReason(fatal) };
      const summary = {
        status: book.status(),
        total,
        sent,
        failed,
        ...why,
        ...(attention === undefined ? {} : { attention }),
        ...(statusActor === undefined ? {} : { actor: statusActor }),
      };
      return getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(sendStatusSignal, summary);
    },
    advance,
  );
  // Only under a version-1 lifecycle, which leaves the send phases to the send: versions stay comparable with its own.
  let statusVersion = input.carried?.statusVersion ?? 0;
  const writeOwnStatus = (): Promise<void> => {
    statusVersion = nextStatusVersion(statusVersion, Date.now());
    if (!retry) return setCampaignStatus(campaignId, book.status(), statusVersion, null, statusActor ?? SYSTEM_ACTOR);
    // A retry round writes its own status, never the campaign's: that stays the lifecycle's.
    return setRetryStatus(campaignId, retry.round, book.status(), statusVersion, fatal === undefined ? null : failureReason(fatal));
  };
  const ownStatus = lifecycleOwnsStatus ? undefined : new LatestValueTask(shielded, writeOwnStatus, advance);
  const writers = [reporter, projector, ...(ownStatus ? [ownStatus] : [])];

  /** `actor`: who asked for the change; kept while the status stays what they made it. */
  function statusChanged(actor?: string): void {
    if (book.status() !== statusSeen) {
      statusSeen = book.status();
      statusActor = actor;
    }
    upsertSearchAttributes([{ key: CampaignStatusAttr, value: book.status() }]);
    const attention = book.attention();
    setCurrentDetails(`**${book.status()}**${attention === undefined ? '' : `\n\n${attention}`}`);
    for (const writer of writers) writer.request();
  }

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
    const scope = new CancellationScope({ cancellable: true, parent: root });
    running.set(batch.batchNo, scope);
    // Batches are never cancelled half-way: a sendBatch that has claimed its batch finishes and lands in the ledger.
    const brake = book.brakeArmed ? { brake: true } : {};
    perform(scope, () => sendBatch({ campaignId, batch: inLedger(batch), ...ceiling, ...brake }), (outcome) => {
      running.delete(batch.batchNo);
      if (outcome.ok) {
        const result = outcome.value;
        if ('braked' in result) holdForBrake(batch.batchNo, result.braked);
        else follow(batch.batchNo, book.landed(booked(batch.batchNo, result)));
      }
      // Withdrawn, or asked to be and then lost with its worker (Temporal does not retry an activity whose
      // cancellation was requested): either way the ledger says what the batch needs when it is sent again.
      else if (isCancellation(outcome.error) || scope.consideredCancelled) book.withdrawn(batch.batchNo);
      else {
        book.lost(batch.batchNo);
        fail(outcome.error);
      }
      advance();
    });
  }

  /** The brake tripped (the batch was left as it was): the send pauses itself until an operator resumes or cancels. */
  function holdForBrake(batchNo: number, trip: BrakeTrip): void {
    book.withdrawn(batchNo);
    if (book.braked(trip)) {
      log.warn('the brake paused the send', { campaignId, reason: trip.reason });
      for (const scope of running.values()) scope.cancel(); // batches still waiting for their slot are withdrawn too
      statusChanged();
    }
    projector.request();
  }

  function seekProof(batchNo: number): void {
    if (stopping()) return; // abandoned below, not resolved
    perform(proofs, () => resolveBatchOutcome({ campaignId, batch: inLedger(book.plan(batchNo)) }), (outcome) => {
      if (outcome.ok) follow(batchNo, book.proven(booked(batchNo, outcome.value)));
      // A cancelled proof (or one lost with its worker once cancelled) leaves the batch parked, to be abandoned.
      else if (!isCancellation(outcome.error) && !proofs.consideredCancelled) fail(outcome.error);
      advance();
    });
  }

  /** Freezes the next page of the audience; each page's batches may go out at once. */
  function freezeNextPage(): void {
    if (retry) return freezeRound();
    perform(snapshot, () => snapshotAudiencePage(campaignId), (outcome) => {
      if (outcome.ok) {
        book.audienceFrozen(outcome.value.frozen, outcome.value.complete);
        projector.request();
        if (!outcome.value.complete && !stopping()) freezeNextPage();
      } else if (!isCancellation(outcome.error)) {
        fail(outcome.error); // e.g. the campaign has no content: the send fails visibly
      }
      advance();
    });
  }

  /** A retry round's recipients, frozen at once (db/retries.ts says who). */
  function freezeRound(): void {
    if (!retry) return;
    perform(snapshot, () => freezeRetryRound(retry), (outcome) => {
      if (outcome.ok) {
        roundStart = outcome.value.firstOrdinal;
        book.audienceFrozen(outcome.value.frozen, true);
        projector.request();
      } else if (!isCancellation(outcome.error)) {
        fail(outcome.error); // e.g. the campaign is still sending: the round fails visibly
      }
      advance();
    });
  }

  /** A cancelled or failed send stops waiting for proof: parked parts become 'unknown'. */
  function abandonParked(): void {
    proofs.cancel();
    const parked = book.parkedBatches();
    abandoning = parked.length;
    for (const batchNo of parked) {
      perform(shielded, () => abandonParkedBatch({ campaignId, batch: inLedger(book.plan(batchNo)) }), (outcome) => {
        abandoning = (abandoning ?? 1) - 1;
        if (outcome.ok) follow(batchNo, book.proven(booked(batchNo, outcome.value)));
        else fail(outcome.error);
        advance();
      });
    }
  }

  /** After every event: start what may start now, and see whether the run is over. */
  function advance(): void {
    if (ending === undefined && !stopping()) {
      while (book.canLaunch(options.window)) {
        if (book.launchedThisRun >= options.batchesPerRun) {
          rollOver = true;
          break;
        }
        launch();
      }
    }
    if (ending === undefined) decideEnding();
    done = ending !== undefined && writers.every((writer) => writer.idle);
  }

  function decideEnding(): void {
    if (stopping()) {
      if (book.inFlightBatches > 0) return; // in-flight batches land (or are withdrawn) first
      if (abandoning === undefined) abandonParked();
      if (abandoning === 0) end(fatal === undefined ? 'cancelled' : 'failed');
    } else if (book.settled()) {
      end('sent');
    } else if (rollOver && book.inFlightBatches === 0) {
      end('continue');
    }
  }

  function end(how: FinalStatus | 'continue'): void {
    ending = how;
    if (how === 'continue') return;
    const cancelledByTemporal = how === 'cancelled' && !book.cancelled;
    book.close(how);
    statusChanged(cancelledByTemporal ? TEMPORAL_ACTOR : undefined);
  }

  /** Signals and updates take effect as events do, through perform; updates answer with the progress after. */
  function steer(change: () => boolean, { hold }: { hold: boolean }, request: Steering | undefined): Promise<SendProgress> {
    return new Promise((resolve) =>
      perform(shielded, nothing, () => {
        if (change()) {
          // Pause and cancel stop what has not gone out yet: batches still waiting for their slot are withdrawn.
          if (hold) for (const scope of running.values()) scope.cancel();
          statusChanged(actorOf(request));
        }
        advance();
        resolve(progress());
      }),
    );
  }

  /** An operator's decision on a batch no proof came for; it stays unknown (the send cannot finish) until recorded. */
  function settleUnknown(request: ResolveBatchRequest): Promise<SendProgress> {
    const { batchNo, as } = request;
    return new Promise((resolve, reject) =>
      perform(shielded, nothing, () => {
        if (!book.awaitsDecision(batchNo)) return resolve(progress()); // a second request: already handled
        book.beginDecision(batchNo);
        perform(shielded, () => resolveUnknownBatch({ campaignId, batch: inLedger(book.plan(batchNo)), as }), (outcome) => {
          if (outcome.ok) {
            follow(batchNo, book.decided(booked(batchNo, outcome.value)));
            statusChanged(actorOf(request));
            resolve(progress());
          } else {
            book.decisionFailed(batchNo);
            reject(outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error)));
          }
          advance();
        });
      }),
    );
  }

  setHandler(progressQuery, progress);
  setHandler(pauseUpdate, (request?: Steering) => steer(() => book.pause(), { hold: true }, request));
  setHandler(resumeUpdate, (request?: Steering) => steer(() => book.resume(), { hold: false }, request));
  setHandler(cancelUpdate, (request?: Steering) => steer(() => book.cancel(), { hold: true }, request));
  setHandler(pauseSendSignal, (request?: Steering) => void steer(() => book.pause(), { hold: true }, request));
  setHandler(resumeSendSignal, (request?: Steering) => void steer(() => book.resume(), { hold: false }, request));
  setHandler(cancelSendSignal, (request?: Steering) => void steer(() => book.cancel(), { hold: true }, request));
  setHandler(resolveBatchUpdate, settleUnknown, { validator: validateResolveBatch(book) });

  try {
    if (!input.carried) statusChanged();
    if (!book.counts().audienceComplete) freezeNextPage();
    for (const batchNo of book.parkedBatches()) seekProof(batchNo); // parked by the previous run
    if (book.unknownBatches().length > 0) statusChanged();
    projector.request();
    advance();
    await condition(() => done && allHandlersFinished());
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // Cancelled from Temporal itself (UI, CLI): the batches' scopes were cancelled with it, so in-flight
    // batches land or are withdrawn; then the send ends cancelled.
    await CancellationScope.nonCancellable(async () => {
      advance();
      await condition(() => done);
    });
    throw error;
  }

  const { total, sent, failed, unknownBatches } = book.counts();
  const how = ending as FinalStatus | 'continue';
  if (how === 'failed') throw fatal ?? new Error('the send failed');
  if (how === 'continue') {
    return continueAsNew<typeof campaignSend>({
      campaignId,
      options,
      ...(lifecycleOwnsStatus ? { lifecycleOwnsStatus } : {}),
      ...(retry ? { retry: { ...retry, ...(roundStart === undefined ? {} : { firstOrdinal: roundStart }) } } : {}),
      carried: { ...book.carry(), ...(ownStatus ? { statusVersion } : {}) },
    });
  }
  return { campaignId, status: how, total, sent, failed, unknownBatches };
}
