/**
 * The campaign lifecycle's vocabulary, shared by its workflow, activities and
 * clients. Pure: the workflow bundle imports it.
 *
 *   draft -> configured -> audience-ready -> content-ready -> preview-sent
 *         -> approved | scheduled -> sending -> tracking -> analysed -> archived
 *   cancelled: any time before sending finishes
 *
 * Until approval the phase follows from what has been done at the current
 * configuration version: an edit makes an earlier audience count or preview
 * stale, so the phase steps back.
 */
import type { AudienceFilter, CampaignStatus, CampaignType, SendOptions, Steering } from './campaign.js';
import { engagementRates, ZERO_COUNTERS } from './engagement.js';

/** An editor's change to a draft; absent fields stay as they are, null clears. */
export interface CampaignChanges {
  name?: string;
  type?: CampaignType;
  reportYear?: number | null;
  reportMonth?: number | null;
  subject?: string | null;
  html?: string | null;
  text?: string | null;
  from?: string | null;
  audience?: AudienceFilter;
  /** Ids from test_addresses: workflows carry ids, never addresses. */
  testAddressIds?: string[];
  /** ISO 8601; when approval should send, if later than approval. */
  sendAt?: string | null;
}

export interface ConfigureRequest extends Steering {
  /** The configuration version the editor last saw; anything else is a conflict. */
  expectedVersion: number;
  /** The changes saved in Aurora (campaign_edit_drafts): the workflow carries their id, never the content. */
  draftId?: string;
  /** The names of the fields changed, for the history's summary. */
  fields?: string[];
  /** Inline changes, as requests made before drafts carried them (their histories still replay). */
  changes?: CampaignChanges;
}

export interface GenerateContentRequest extends Steering {
  /** What the email should say, in the editor's words; the campaign's name, type and period are added. */
  prompt?: string;
  model?: string;
}

export interface ApproveRequest extends Steering {
  /** ISO 8601; later than now means a scheduled send (a durable timer). Default: the configured send time, else now. */
  sendAt?: string;
  /** Send tuning for this campaign; defaults from the trigger's configuration. */
  send?: Partial<SendOptions>;
  /** The configuration version the approver reviewed: a draft edited since is refused (a conflict). */
  expectedVersion?: number;
}

/** What the workflow knows of a campaign's configuration: flags and counts, never content or people. */
export interface DraftFacts {
  name: string;
  type: CampaignType;
  /** `YYYY-MM` of a financial campaign's report period. */
  period: string | null;
  configVersion: number;
  hasContent: boolean;
  hasTestAddresses: boolean;
  sendAt: string | null;
}

export interface AudiencePreview {
  count: number;
  /** A few user ids from the front of the audience, to eyeball the filters. */
  sampleUserIds: string[];
  configVersion: number;
}

export interface CampaignMetrics {
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  complained: number;
  unsubscribed: number;
  deliveryRate: number;
  openRate: number;
  clickRate: number;
  bounceRate: number;
  unsubscribeRate: number;
  complaintRate: number;
}

/** The send as the lifecycle last heard of it from its child workflow. */
export interface SendSummary {
  status: CampaignStatus;
  total: number;
  sent: number;
  failed: number;
  /** Why the send failed, with status 'failed'. */
  failureReason?: string;
  /** Why the send waits for an operator, with status 'needs-attention'. */
  attention?: string;
  /** Who made the change reported (an operator's pause, resume, cancel or decision); absent: the send itself. */
  actor?: string;
}

/** What went wrong, in the words of the failure at the bottom of the chain (say, Mailgun refusing the sender). */
export function failureReason(error: unknown): string {
  let cause: unknown = error;
  let message = String(error);
  while (cause instanceof Error) {
    message = cause.message || message;
    cause = cause.cause;
  }
  return message;
}

/** The lifecycle workflow's `state` query: everything an operator needs to read a campaign in the UI. */
export interface LifecycleState {
  campaignId: string;
  phase: CampaignStatus;
  configVersion: number;
  hasContent: boolean;
  audience: AudiencePreview | null;
  previewedVersion: number | null;
  approvedVersion: number | null;
  sendAt: string | null;
  send: SendSummary | null;
  /** The last draft generated with AI. */
  generated: { generatedContentId: string; cached: boolean; totalTokens: number } | null;
  metrics: CampaignMetrics | null;
  trackingUntil: string | null;
  /** Why the campaign failed, when it did. */
  failureReason?: string | null;
}

export interface LifecycleOptions {
  /** Send tuning applied when approval gives none. */
  sendDefaults: SendOptions;
  /** How long the campaign stays open after sending, refreshing its analytics. */
  trackingWindowMs: number;
  /** How often analytics are refreshed while tracking. */
  analyticsRefreshMs: number;
}

export interface LifecycleInput {
  campaignId: string;
  options: LifecycleOptions;
  /** The draft as created, so requests that arrive at once are judged right. */
  facts: DraftFacts;
  /** Approve at once, on start (the CRM's send-mail: straight to sending). */
  autoApprove?: ApproveRequest;
  /**
   * Sign each recipient's report links for the campaign's period before
   * sending (the CRM's attachReporting); without the signing key the campaign
   * fails before anything is sent.
   */
  signReportLinks?: boolean;
  /** Who created the campaign: the first transition names them. */
  actor?: string;
}

export interface LifecycleResult {
  campaignId: string;
  status: 'archived' | 'cancelled';
  metrics: CampaignMetrics | null;
}

const BEFORE_APPROVAL: readonly CampaignStatus[] = ['draft', 'configured', 'audience-ready', 'content-ready', 'preview-sent'];

/** The phase of a campaign not yet approved, from what has been done at its current version. */
export function draftPhase(facts: DraftFacts, audience: AudiencePreview | null, previewedVersion: number | null): CampaignStatus {
  if (facts.hasContent && previewedVersion === facts.configVersion) return 'preview-sent';
  if (facts.hasContent) return 'content-ready';
  if (audience?.configVersion === facts.configVersion) return 'audience-ready';
  return facts.configVersion > 1 ? 'configured' : 'draft';
}

/**
 * A status version later than `last`, from workflow time: comparable between a campaign's workflows.
 * Only for sends under version-1 lifecycles, whose versions are such times; the lifecycle now counts its writes.
 */
export function nextStatusVersion(last: number, nowMs: number): number {
  return Math.max(last + 1, nowMs * 1000);
}

/** Whether a campaign in this phase may still be edited (an edit after approval withdraws it). */
export function isEditable(phase: CampaignStatus): boolean {
  return BEFORE_APPROVAL.includes(phase) || phase === 'approved' || phase === 'scheduled';
}

/** Rates as fractions of what could happen: delivery and bounce of sent, the rest of delivered. */
export function computeMetrics(counts: Omit<CampaignMetrics, `${string}Rate`>): CampaignMetrics {
  return { ...counts, ...engagementRates({ ...ZERO_COUNTERS, ...counts, uniqueOpened: counts.opened, uniqueClicked: counts.clicked }) };
}
