/**
 * The campaign lifecycle workflow's public face: its input, result, query,
 * updates and the signal its send child reports through. Clients import this
 * file (not the workflow itself) to steer a campaign.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ApproveRequest,
  AudiencePreview,
  ConfigureRequest,
  GenerateContentRequest,
  LifecycleState,
  SendSummary,
} from '../common/lifecycle.js';
import type { Steering } from '../common/campaign.js';

export const CAMPAIGN_LIFECYCLE_WORKFLOW = 'campaignLifecycle';

/** Why a lifecycle update was refused: the ApplicationFailure type clients map to HTTP statuses. */
export const REFUSALS = {
  /** The editor's version is stale, or another edit is being applied. */
  conflict: 'VersionConflict',
  /** The campaign is in a phase that does not allow this (e.g. an edit after sending began). */
  wrongPhase: 'WrongPhase',
  /** The request itself is unusable (a send time that is not a date, nothing to preview to). */
  invalid: 'InvalidRequest',
} as const;

// Updates that take a `Steering` name who asks; one that came without (a request made through
// Temporal itself, or recorded before) is recorded as `temporal`.

export const stateQuery = defineQuery<LifecycleState>('state');
/** Edits the draft under the version the editor saw; refused once sending has begun. */
export const configureUpdate = defineUpdate<LifecycleState, [ConfigureRequest]>('configure');
/** How many recipients the filters select now, and a few of their ids; nothing is frozen. */
export const previewAudienceUpdate = defineUpdate<AudiencePreview, [Steering]>('previewAudience');
/** Drafts subject and body with OpenAI (cached by prompt) and makes them the content. */
export const generateContentUpdate = defineUpdate<LifecycleState, [GenerateContentRequest]>('generateContent');
/** Sends the current content to the campaign's test addresses only. */
export const previewUpdate = defineUpdate<LifecycleState, [Steering]>('preview');
/** Freezes content and audience and sends now, or at `sendAt` (a durable timer). */
export const approveUpdate = defineUpdate<LifecycleState, [ApproveRequest]>('approve');
export const pauseCampaignUpdate = defineUpdate<LifecycleState, [Steering]>('pause');
export const resumeCampaignUpdate = defineUpdate<LifecycleState, [Steering]>('resume');
/** Stops the campaign for good: before sending, nothing is sent; while sending, in-flight batches land. */
export const cancelCampaignUpdate = defineUpdate<LifecycleState, [Steering]>('cancel');

/** From the send child: its status changed (sending, paused, needs-attention, ...). */
export const sendStatusSignal = defineSignal<[SendSummary]>('sendStatus');
