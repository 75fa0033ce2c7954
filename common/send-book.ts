/**
 * The send workflow's bookkeeping, pure and clock-free: which batches are open
 * (started and not done), which of those are in flight (each holding a window
 * slot), parked (outcome unknown, proof sought outside the window), waiting for
 * an operator, or queued to be sent again; which batch goes next; the counts;
 * pause and cancel; and what a continued run carries over. The workflow runs
 * activities and does what this says; nothing here knows what time it is.
 *
 *   new batch --launch--> in flight --landed--> done
 *                                  --withdrawn (paused while waiting for its slot)--> resend queue
 *                                            -> resend queue (a part proven unsent) --launch--> in flight
 *                                            -> parked (outcome unknown) --proven--> done | resend queue | operator
 *                                            -> operator (no proof in time) --decided--> done | resend queue
 */
import { batchCount, planBatch, type BatchPlan } from './batches.js';
import type { BrakeTrip } from './brake.js';
import type { CampaignStatus } from './campaign.js';
import { routeBatch, type BatchStatus } from './ledger.js';

/** A batch started but not done when a run continued as new, and what it still needs. */
export interface OpenBatch {
  batchNo: number;
  /** What the batch had counted so far. */
  sent: number;
  failed: number;
  needs: 'send' | 'resolve' | 'operator';
}

/** Everything a continued run needs; ids and counts only, never recipients. */
export interface SendBookState {
  /** Recipients frozen so far (all of them once audienceComplete). */
  total: number;
  nextBatch: number;
  sent: number;
  failed: number;
  batchesDone: number;
  paused: boolean;
  cancelRequested: boolean;
  audienceComplete: boolean;
  open: OpenBatch[];
  /** The brake holding the send (it paused itself), until an operator resumes or cancels. */
  brake?: BrakeTrip;
  /** An operator resumed a braked send: the brake stays off for the rest of it. */
  brakeReleased?: boolean;
}

/** What the workflow must do once a batch's status is in. */
export type FollowUp =
  /** Nothing: the batch is done, or queued to be sent again. */
  | 'none'
  /** Seek proof of its outcome (resolveBatchOutcome), outside the window. */
  | 'park'
  /** No proof came in time: it now waits for an operator, and the status says so. */
  | 'operator';

export type FinalStatus = 'sent' | 'cancelled' | 'failed';

/** The counts a progress report shows. */
export interface BookCounts {
  total: number;
  sent: number;
  failed: number;
  /** Recipients in batches being sent now. */
  inFlight: number;
  paused: boolean;
  batchesTotal: number;
  batchesDone: number;
  audienceComplete: boolean;
  parkedBatches: number[];
  unknownBatches: number[];
  /** Why the send needs an operator, while it does. */
  attention?: string;
  /** The brake holding the send, while it does. */
  brake?: BrakeTrip;
}

interface Counted {
  sent: number;
  failed: number;
}

const attentionOf = (attention: string | undefined): { attention?: string } => (attention === undefined ? {} : { attention });

const ascending = (numbers: Iterable<number>): number[] => [...numbers].sort((a, b) => a - b);

export class SendBook {
  private total: number;
  private nextBatch: number;
  private sent: number;
  private failed: number;
  private batchesDone: number;
  private paused: boolean;
  private cancelRequested: boolean;
  private audienceComplete: boolean;
  private final: FinalStatus | undefined;
  private brake: BrakeTrip | undefined;
  private brakeReleased: boolean;
  private startedThisRun = 0;
  /** Started and not done, with what each had counted so far. */
  private readonly open = new Map<number, Counted>();
  /** sendBatch running: batchNo -> recipients. */
  private readonly inFlight = new Map<number, number>();
  private readonly parked = new Set<number>();
  private readonly unknown = new Set<number>();
  /** Unknown batches an operator's decision is being recorded for. */
  private readonly beingDecided = new Set<number>();
  /** Batches with parts proven unsent: they go before new batches. */
  private readonly resendQueue: number[] = [];

  constructor(
    private readonly batchSize: number,
    state: SendBookState = SendBook.initialState(),
  ) {
    batchCount(0, batchSize); // refuses an impossible batch size at once
    this.total = state.total;
    this.nextBatch = state.nextBatch;
    this.sent = state.sent;
    this.failed = state.failed;
    this.batchesDone = state.batchesDone;
    this.paused = state.paused;
    this.cancelRequested = state.cancelRequested;
    this.audienceComplete = state.audienceComplete;
    this.brake = state.brake;
    this.brakeReleased = state.brakeReleased ?? false;
    for (const { batchNo, sent, failed, needs } of state.open) {
      this.open.set(batchNo, { sent, failed });
      if (needs === 'send') this.resendQueue.push(batchNo);
      if (needs === 'resolve') this.parked.add(batchNo);
      if (needs === 'operator') this.unknown.add(batchNo);
    }
  }

  static initialState(): SendBookState {
    return {
      total: 0,
      nextBatch: 0,
      sent: 0,
      failed: 0,
      batchesDone: 0,
      paused: false,
      cancelRequested: false,
      audienceComplete: false,
      open: [],
    };
  }

  // ------------------------------------------------------------ the audience

  /** A page of the snapshot is committed: `frozen` recipients so far, all of them if `complete`. */
  audienceFrozen(frozen: number, complete: boolean): void {
    this.total = frozen;
    this.audienceComplete = complete;
  }

  // ------------------------------------------------------------ steering

  /** Stops new batches (in-flight ones finish); false if nothing changed. */
  pause(): boolean {
    if (this.paused || !this.steerable()) return false;
    this.paused = true;
    return true;
  }

  /** Sends again; resuming a braked send releases the brake for the rest of it. */
  resume(): boolean {
    if (!this.paused || !this.steerable()) return false;
    this.paused = false;
    if (this.brake) {
      this.brake = undefined;
      this.brakeReleased = true;
    }
    return true;
  }

  /** Whether batches still check the brake: until an operator has resumed a braked send. */
  get brakeArmed(): boolean {
    return !this.brakeReleased;
  }

  /**
   * A batch found the brake tripped: the send pauses itself and waits for an operator. False if
   * nothing changed (already held, released by an operator, or stopping anyway).
   */
  braked(trip: BrakeTrip): boolean {
    if (this.brake || this.brakeReleased || !this.steerable()) return false;
    this.brake = trip;
    this.paused = true;
    return true;
  }

  /** Stops for good once in-flight batches have landed; false if nothing changed. */
  cancel(): boolean {
    if (!this.steerable()) return false;
    this.cancelRequested = true;
    return true;
  }

  get cancelled(): boolean {
    return this.cancelRequested;
  }

  /** The send is over: nothing changes its status any more. */
  close(status: FinalStatus): void {
    this.final = status;
  }

  status(): CampaignStatus {
    if (this.final !== undefined) return this.final;
    if (this.cancelRequested) return 'cancelled';
    if (this.unknown.size > 0 || this.brake) return 'needs-attention';
    return this.paused ? 'paused' : 'sending';
  }

  /** Why the send waits for an operator: the brake, or batches no proof came for. */
  attention(): string | undefined {
    if (this.final !== undefined || this.cancelRequested) return undefined;
    const reasons = [
      ...(this.brake ? [this.brake.reason] : []),
      ...(this.unknown.size > 0 ? [`the outcome of batch${this.unknown.size > 1 ? 'es' : ''} ${this.unknownBatches().join(', ')} is unknown: resolve each (resolve-batch)`] : []),
    ];
    return reasons.length > 0 ? reasons.join('; ') : undefined;
  }

  private steerable(): boolean {
    return !this.cancelRequested && this.final === undefined;
  }

  // ------------------------------------------------------------ what goes next

  /** Batches whose recipients are frozen: all of them once the snapshot is complete, else the full ones so far. */
  private sendable(): number {
    return this.audienceComplete ? batchCount(this.total, this.batchSize) : Math.floor(this.total / this.batchSize);
  }

  private hasWork(): boolean {
    return this.resendQueue.length > 0 || this.nextBatch < this.sendable();
  }

  /** Whether a batch may start now, with `window` slots in all. */
  canLaunch(window: number): boolean {
    return this.hasWork() && !this.paused && this.steerable() && this.inFlight.size < window;
  }

  /** Takes the next batch (one to be sent again first, else a new one) and counts it in flight. */
  launch(): BatchPlan {
    if (!this.hasWork()) throw new Error('no batch is ready to launch');
    const batchNo = this.resendQueue.shift() ?? this.nextBatch++;
    const batch = this.plan(batchNo);
    this.inFlight.set(batchNo, batch.size);
    this.startedThisRun++;
    return batch;
  }

  /** Batches this run has launched; a run continues as new after a number of them. */
  get launchedThisRun(): number {
    return this.startedThisRun;
  }

  plan(batchNo: number): BatchPlan {
    return planBatch(this.total, this.batchSize, batchNo);
  }

  // ------------------------------------------------------------ outcomes

  /** sendBatch returned the batch's status. */
  landed(status: BatchStatus): FollowUp {
    this.inFlight.delete(status.batchNo);
    return this.route(status);
  }

  /** sendBatch failed for good: the batch leaves the window (and the send fails). */
  lost(batchNo: number): void {
    this.inFlight.delete(batchNo);
  }

  /**
   * sendBatch gave the batch back unsent (a pause or cancel reached it while it waited for its
   * slot in the rate budget): it leaves the window and goes first when sending resumes.
   */
  withdrawn(batchNo: number): void {
    this.inFlight.delete(batchNo);
    if (!this.open.has(batchNo)) this.open.set(batchNo, { sent: 0, failed: 0 });
    this.resendQueue.unshift(batchNo);
  }

  /** A parked batch's outcome was settled (proven, or abandoned as unknown). */
  proven(status: BatchStatus): FollowUp {
    this.parked.delete(status.batchNo);
    return this.route(status);
  }

  /** Whether an operator's decision on `batchNo` can be taken now: it waits for one, and none is being recorded. */
  awaitsDecision(batchNo: number): boolean {
    return this.unknown.has(batchNo) && !this.beingDecided.has(batchNo);
  }

  /** An operator's decision is being recorded: the batch stays unknown (the send cannot finish) meanwhile. */
  beginDecision(batchNo: number): void {
    this.beingDecided.add(batchNo);
  }

  /** The decision is recorded; the ledger says where the batch goes next. */
  decided(status: BatchStatus): FollowUp {
    this.beingDecided.delete(status.batchNo);
    this.unknown.delete(status.batchNo);
    return this.route(status);
  }

  /** Recording the decision failed: the batch still waits for one. */
  decisionFailed(batchNo: number): void {
    this.beingDecided.delete(batchNo);
  }

  /** Takes a batch's latest status into the counts and sends it where it needs to go next. */
  private route(status: BatchStatus): FollowUp {
    const { batchNo } = status;
    const before = this.open.get(batchNo) ?? { sent: 0, failed: 0 };
    this.sent += status.sent - before.sent;
    this.failed += status.failed - before.failed;
    const next = routeBatch(status);
    if (next === 'done') {
      this.open.delete(batchNo);
      this.batchesDone++;
      return 'none';
    }
    this.open.set(batchNo, { sent: status.sent, failed: status.failed });
    if (next === 'send') {
      this.resendQueue.push(batchNo);
      return 'none';
    }
    if (next === 'resolve') {
      this.parked.add(batchNo);
      return 'park';
    }
    this.unknown.add(batchNo);
    return 'operator';
  }

  // ------------------------------------------------------------ reading

  get inFlightBatches(): number {
    return this.inFlight.size;
  }

  parkedBatches(): number[] {
    return ascending(this.parked);
  }

  unknownBatches(): number[] {
    return ascending(this.unknown);
  }

  /** Every batch is accepted or failed: nothing in flight, parked, waiting for an operator or still to send. */
  settled(): boolean {
    return (
      this.audienceComplete &&
      !this.hasWork() &&
      this.inFlight.size === 0 &&
      this.parked.size === 0 &&
      this.unknown.size === 0
    );
  }

  counts(): BookCounts {
    return {
      total: this.total,
      sent: this.sent,
      failed: this.failed,
      inFlight: [...this.inFlight.values()].reduce((a, b) => a + b, 0),
      paused: this.paused,
      batchesTotal: this.sendable(),
      batchesDone: this.batchesDone,
      audienceComplete: this.audienceComplete,
      parkedBatches: this.parkedBatches(),
      unknownBatches: this.unknownBatches(),
      ...attentionOf(this.attention()),
      ...(this.brake ? { brake: this.brake } : {}),
    };
  }

  /** What a continued run starts from; call with nothing in flight. */
  carry(): SendBookState {
    if (this.inFlight.size > 0) throw new Error(`${this.inFlight.size} batches are still in flight: drain the window first`);
    const needs = (batchNo: number): OpenBatch['needs'] =>
      this.unknown.has(batchNo) ? 'operator' : this.parked.has(batchNo) ? 'resolve' : 'send';
    return {
      total: this.total,
      nextBatch: this.nextBatch,
      sent: this.sent,
      failed: this.failed,
      batchesDone: this.batchesDone,
      paused: this.paused,
      cancelRequested: this.cancelRequested,
      audienceComplete: this.audienceComplete,
      open: [...this.open].map(([batchNo, counted]) => ({ batchNo, ...counted, needs: needs(batchNo) })),
      ...(this.brake ? { brake: this.brake } : {}),
      ...(this.brakeReleased ? { brakeReleased: true } : {}),
    };
  }
}
