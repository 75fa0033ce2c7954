/**
 * Campaign vocabulary shared by workflows, activities and clients.
 * Pure: no Node modules, so the workflow bundle can import it.
 */
import type { BrakeTrip } from './brake.js';

export const CAMPAIGN_TYPES = ['financial', 'newsletter', 'outreach'] as const;
export type CampaignType = (typeof CAMPAIGN_TYPES)[number];

export const SUBSCRIPTION_STATUSES = ['subscribed', 'unsubscribed', 'pending'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/**
 * Every status a campaign goes through, in order. The lifecycle workflow moves a campaign from
 * draft to archived; while sending, its send workflow reports sending, paused, needs-attention
 * (a batch's outcome could not be proven and waits for an operator) and sent.
 */
export const CAMPAIGN_STATUSES = [
  'draft',
  'configured',
  'audience-ready',
  'content-ready',
  'preview-sent',
  'approved',
  'scheduled',
  'sending',
  'paused',
  'needs-attention',
  'sent',
  'tracking',
  'analysed',
  'archived',
  'cancelled',
  'failed',
] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** Who a campaign goes to. Evaluated once, when the audience snapshot is taken. */
export interface AudienceFilter {
  /** Accepted subscription statuses; default ['subscribed']. */
  subscriptionStatuses?: SubscriptionStatus[];
  /** Only users who also accept this other stream (every audience requires consent to the campaign's own stream). */
  emailType?: string;
  /** At most this many recipients (lowest user ids first). */
  limit?: number;
  /** Only these users (an explicit recipient list, as the CRM's send-mail sends). */
  userIds?: string[];
  /** Only users with a report id (custom_id): the customers of a financial run. */
  hasReportId?: boolean;
  /** Only users the campaign has signed report links for (a financial run that skips customers without files). */
  requireReportLinks?: boolean;
}

/** Tuning of one send; defaults come from the trigger's configuration. */
export interface SendOptions {
  /** Recipients per Mailgun call, at most 1000. */
  batchSize: number;
  /** Batches in flight at once. */
  window: number;
  /**
   * This campaign's own ceiling in messages per second, on top of the rate budget of the domain it
   * sends on (shared by every campaign there); none by default.
   */
  ratePerSecond?: number;
  /** Batches one workflow run starts before it continues as new. */
  batchesPerRun: number;
}

/** Counts only: workflows hold ids and numbers, never people. */
export interface SendProgress {
  campaignId: string;
  status: CampaignStatus;
  /** Recipients in the frozen audience; grows while the snapshot is still being taken. */
  total: number;
  sent: number;
  failed: number;
  inFlight: number;
  paused: boolean;
  batchesTotal: number;
  batchesDone: number;
  /** Whether the audience snapshot is complete (until then total and batchesTotal grow). */
  audienceComplete: boolean;
  /** Batches whose last attempt has an unknown outcome, parked outside the window until Mailgun's logs prove it. */
  parkedBatches: number[];
  /** Batches no proof came for in time: an operator resolves each (`resolve-batch`). */
  unknownBatches: number[];
  /** The rate the send gets (read from Aurora; absent before its first batch). */
  rate?: SendRate;
  /** Why the send waits for an operator (status needs-attention): the brake, or batches of unknown outcome. */
  attention?: string;
  /** The brake holding the send, in figures (README, "The brake"); an operator resumes or cancels. */
  brake?: BrakeTrip;
}

/** The sending rate of a campaign: its domain's shared budget, and its own ceiling if it has one. */
export interface SendRate {
  domain: string;
  /** The domain's budget as configured, shared by every campaign and worker sending on it. */
  domainPerSecond: number;
  /** The domain's budget now: lower after Mailgun's 429s, recovering with every clean batch. */
  currentPerSecond: number;
  /** The campaign's own ceiling (its ratePerSecond send option), if it has one. */
  campaignPerSecond: number | null;
}

/** How an operator settles a batch whose outcome stayed unknown. */
/**
 * Who asks a workflow for a change, as the audit log names them (`api:<key>`, `cli:<user>`, `schedule`); the
 * campaign's transitions record it. A request without one came through Temporal itself (its UI or CLI).
 */
export interface Steering {
  actor?: string;
}
/** The actor of a transition the workflow made itself (a send starting, finishing, the tracking window ending). */
export const SYSTEM_ACTOR = 'system';
/** The actor of what the monthly financial run's Temporal Schedule does. */
export const SCHEDULE_ACTOR = 'schedule';
/** The actor of a request that came through Temporal directly, naming nobody. */
export const TEMPORAL_ACTOR = 'temporal';

/** Who a request came from, as a transition records it. */
export function actorOf(request: Steering | undefined): string {
  return request?.actor ?? TEMPORAL_ACTOR;
}

export const BATCH_RESOLUTIONS = ['accepted', 'resend'] as const;
export type BatchResolution = (typeof BATCH_RESOLUTIONS)[number];

export function sendWorkflowId(campaignId: string): string {
  return `campaign-send-${campaignId}`;
}

export function lifecycleWorkflowId(campaignId: string): string {
  return `campaign-${campaignId}`;
}

/** The largest PostgreSQL bigint. */
const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** Ids (campaigns, users, cursors) are Aurora bigints, carried as decimal strings: positive and within bigint. */
export function isBigintId(value: string): boolean {
  return /^[1-9]\d{0,18}$/.test(value) && BigInt(value) <= MAX_BIGINT;
}

export const isCampaignId = isBigintId;
