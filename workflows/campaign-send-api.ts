/**
 * The campaign send workflow's public face: its input, result, query and
 * updates. Clients import this file (not the workflow itself) to steer a send.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BatchResolution, SendOptions, SendProgress, Steering } from '../common/campaign.js';
import type { RateGovernorState } from '../common/rate-governor.js';
import type { RetryRequest } from '../common/retries.js';
import type { SendBookState } from '../common/send-book.js';

export type { OpenBatch } from '../common/send-book.js';

export const CAMPAIGN_SEND_WORKFLOW = 'campaignSend';

export interface CampaignSendInput {
  campaignId: string;
  options: SendOptions;
  /**
   * Set by the lifecycle, which alone writes the campaign's status: the send only reports to it.
   * Sends started by lifecycles from before that (version 1) write Aurora's status themselves.
   */
  lifecycleOwnsStatus?: boolean;
  /**
   * A retry round (README, "Retrying failed recipients"): the send freezes the round's recipients
   * instead of the campaign's audience and writes the round's status instead of the campaign's.
   */
  retry?: RetryRun;
  /** Set only by continue-as-new: where the previous run stopped. */
  carried?: CarriedState;
}

export interface RetryRun extends RetryRequest {
  /** The round's first ordinal in the ledger, once its recipients are frozen (carried by continue-as-new). */
  firstOrdinal?: number;
}

/** Everything a continued run needs; ids and counts only, never recipients. */
export interface CarriedState extends SendBookState {
  /** Carried by runs of version 1, which paced batch starts themselves; ignored since. */
  rate?: RateGovernorState;
  /** The version of the last status a send writing its own status wrote (see lifecycleOwnsStatus). */
  statusVersion?: number;
}

export interface CampaignSendResult {
  campaignId: string;
  status: 'sent' | 'cancelled';
  total: number;
  sent: number;
  failed: number;
  /** Batches whose outcome nobody could prove; only a cancelled send can end with any. */
  unknownBatches: number[];
}

export interface ResolveBatchRequest extends Steering {
  batchNo: number;
  as: BatchResolution;
}

export const progressQuery = defineQuery<SendProgress>('progress');
/** Stops new batches from starting; batches already in flight finish. */
export const pauseUpdate = defineUpdate<SendProgress, [Steering]>('pause');
export const resumeUpdate = defineUpdate<SendProgress, [Steering]>('resume');
/** Stops the send for good once in-flight batches have finished; the ledger stays consistent. */
export const cancelUpdate = defineUpdate<SendProgress, [Steering]>('cancel');
/**
 * An operator's decision on a batch whose outcome stayed unknown (see progress.unknownBatches):
 * `accepted` counts it as sent, `resend` sends it again. Only for batches waiting for it.
 */
export const resolveBatchUpdate = defineUpdate<SendProgress, [ResolveBatchRequest]>('resolveBatch');

/** The same steering as signals, for the lifecycle workflow (a workflow can signal its child, not update it). */
export const pauseSendSignal = defineSignal<[Steering]>('pauseSend');
export const resumeSendSignal = defineSignal<[Steering]>('resumeSend');
export const cancelSendSignal = defineSignal<[Steering]>('cancelSend');
