/**
 * The campaign send workflow's public face: its input, result, query and
 * updates. Clients import this file (not the workflow itself) to steer a send.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { SendOptions, SendProgress } from '../common/campaign.js';
import type { RateGovernorState } from '../common/rate-governor.js';

export const CAMPAIGN_SEND_WORKFLOW = 'campaignSend';

export interface CampaignSendInput {
  campaignId: string;
  options: SendOptions;
  /** Set only by continue-as-new: where the previous run stopped. */
  carried?: CarriedState;
}

/** Everything a continued run needs; ids and counts only, never recipients. */
export interface CarriedState {
  total: number;
  nextBatch: number;
  sent: number;
  failed: number;
  batchesDone: number;
  paused: boolean;
  cancelRequested: boolean;
  rate: RateGovernorState;
}

export interface CampaignSendResult {
  campaignId: string;
  status: 'sent' | 'cancelled';
  total: number;
  sent: number;
  failed: number;
}

export const progressQuery = defineQuery<SendProgress>('progress');
/** Stops new batches from starting; batches already in flight finish. */
export const pauseUpdate = defineUpdate<SendProgress>('pause');
export const resumeUpdate = defineUpdate<SendProgress>('resume');
/** Stops the send for good once in-flight batches have finished; the ledger stays consistent. */
export const cancelUpdate = defineUpdate<SendProgress>('cancel');
