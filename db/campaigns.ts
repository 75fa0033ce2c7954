import type { Pool } from 'pg';
import type { AudienceFilter, CampaignStatus, CampaignType, SendOptions } from '../common/campaign.js';
import { periodLabel } from '../common/financial.js';
import type { CampaignChanges, DraftFacts } from '../common/lifecycle.js';
import { sql } from './queries.js';

/** Campaign rows: creation, configuration under a version, approval, status. */

export interface CampaignContent {
  subject: string;
  html?: string;
  text?: string;
  from?: string;
  /** Frozen content only: every message carries an unsubscribe link and List-Unsubscribe headers. */
  unsubscribe?: boolean;
}

export interface NewCampaign {
  name: string;
  type: CampaignType;
  content?: CampaignContent;
  audience: AudienceFilter;
  reportYear?: number;
  reportMonth?: number;
  testAddressIds?: string[];
  sendAt?: Date;
  /** The same key in the same scope never creates a second campaign. */
  idempotency?: Idempotency;
}

/** The scope of the financial run's own keys (`financial-YYYY-MM`): callers' scopes all start `api:` or `cli:`. */
export const FINANCIAL_RUN_SCOPE = 'system:financial-run';

/** An idempotency key where it applies: who sent it, to which route; or the pipeline's own (`system:…`). */
export interface Idempotency {
  scope: string;
  key: string;
  /** The request's hash: a reused key with another request is refused. Null: any request under the key is a retry. */
  requestHash: string | null;
}

/** The key was used before, in its scope, for a different request. */
export class IdempotencyMismatch extends Error {
  constructor(readonly key: string) {
    super(`Idempotency-Key ${JSON.stringify(key)} was used for a different request; use a new key for a new request`);
    this.name = 'IdempotencyMismatch';
  }
}

export interface Campaign {
  id: string;
  name: string;
  type: CampaignType;
  status: CampaignStatus;
  /** The content being edited, once it has a subject and a body. */
  content: CampaignContent | undefined;
  audience: AudienceFilter;
  totalRecipients: number | null;
  audienceSnapshotAt: Date | null;
  configVersion: number;
  reportYear: number | null;
  reportMonth: number | null;
  sendAt: Date | null;
  testAddressIds: string[];
  /** What every batch sends, frozen at approval. */
  frozenContent: CampaignContent | undefined;
  frozenAudience: AudienceFilter | undefined;
  approvedAt: Date | null;
  archivedAt: Date | null;
  generatedContentId: string | null;
  createdAt: Date;
  /** Why the campaign failed, when it did (e.g. Mailgun refusing its sender). */
  failureReason: string | null;
  /** Why it waits for an operator, while its status is needs-attention (the brake, batches of unknown outcome). */
  attentionReason: string | null;
  /** The send tuning frozen at approval. */
  sendOptions: SendOptions | null;
  /** The Mailgun domain its batches go out on, whose rate budget they share. */
  sendingDomain: string | null;
}

export interface CampaignStats {
  total: number;
  sent: number;
  failed: number;
  updatedAt: Date;
}

interface CampaignRow {
  id: string;
  name: string;
  type: CampaignType;
  status: CampaignStatus;
  subject: string | null;
  body_html: string | null;
  body_text: string | null;
  from_address: string | null;
  audience: AudienceFilter;
  total_recipients: number | null;
  audience_snapshot_at: Date | null;
  config_version: number;
  report_year: number | null;
  report_month: number | null;
  send_at: Date | null;
  test_address_ids: string[];
  frozen_content: CampaignContent | null;
  frozen_audience: AudienceFilter | null;
  approved_at: Date | null;
  archived_at: Date | null;
  generated_content_id: string | null;
  created_at: Date;
  failure_reason: string | null;
  attention_reason: string | null;
  send_options: SendOptions | null;
  sending_domain: string | null;
}

function toCampaign(row: CampaignRow): Campaign {
  const hasContent = row.subject !== null && (row.body_html !== null || row.body_text !== null);
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    status: row.status,
    content: hasContent
      ? {
          subject: row.subject ?? '',
          html: row.body_html ?? undefined,
          text: row.body_text ?? undefined,
          from: row.from_address ?? undefined,
        }
      : undefined,
    audience: row.audience,
    totalRecipients: row.total_recipients,
    audienceSnapshotAt: row.audience_snapshot_at,
    configVersion: row.config_version,
    reportYear: row.report_year,
    reportMonth: row.report_month,
    sendAt: row.send_at,
    testAddressIds: row.test_address_ids,
    frozenContent: row.frozen_content ?? undefined,
    frozenAudience: row.frozen_audience ?? undefined,
    approvedAt: row.approved_at,
    archivedAt: row.archived_at,
    generatedContentId: row.generated_content_id,
    createdAt: row.created_at,
    failureReason: row.failure_reason,
    attentionReason: row.attention_reason,
    sendOptions: row.send_options,
    sendingDomain: row.sending_domain,
  };
}

/** What the lifecycle workflow knows of a campaign: its version and what it has, never its content or people. */
export function draftFacts(campaign: Campaign): DraftFacts {
  const { reportYear, reportMonth } = campaign;
  return {
    name: campaign.name,
    type: campaign.type,
    period: reportYear !== null && reportMonth !== null ? periodLabel({ year: reportYear, month: reportMonth }) : null,
    configVersion: campaign.configVersion,
    hasContent: campaign.content !== undefined,
    hasTestAddresses: campaign.testAddressIds.length > 0,
    sendAt: campaign.sendAt?.toISOString() ?? null,
  };
}

/** The campaign made under this key in its scope, if any; IdempotencyMismatch if it was made by a different request. */
export async function campaignByIdempotency(pool: Pool, idempotency: Idempotency): Promise<string | undefined> {
  const existing = (await pool.query<{ id: string; requestHash: string | null }>(sql.selectCampaignIdByKey, [idempotency.scope, idempotency.key])).rows[0];
  if (!existing) return undefined;
  if (idempotency.requestHash !== null && existing.requestHash !== idempotency.requestHash) throw new IdempotencyMismatch(idempotency.key);
  return existing.id;
}

/**
 * Inserts a draft; with an idempotency key already used in its scope, returns that campaign's id
 * instead, or throws IdempotencyMismatch if it was made by a different request.
 */
export async function insertCampaign(pool: Pool, campaign: NewCampaign): Promise<{ id: string; created: boolean }> {
  const { content } = campaign;
  const result = await pool.query<{ id: string }>(sql.insertCampaign, [
    campaign.name,
    campaign.type,
    content?.subject ?? null,
    content?.html ?? null,
    content?.text ?? null,
    content?.from ?? null,
    JSON.stringify(campaign.audience),
    campaign.reportYear ?? null,
    campaign.reportMonth ?? null,
    campaign.sendAt ?? null,
    campaign.testAddressIds ?? [],
    campaign.idempotency?.key ?? null,
    campaign.idempotency?.scope ?? null,
    campaign.idempotency?.requestHash ?? null,
  ]);
  const inserted = result.rows[0];
  if (inserted) return { id: inserted.id, created: true };
  const existing = campaign.idempotency && (await campaignByIdempotency(pool, campaign.idempotency));
  if (existing === undefined) throw new Error('insert into campaigns returned no id');
  return { id: existing, created: false };
}

export async function findCampaign(pool: Pool, campaignId: string): Promise<Campaign | undefined> {
  const result = await pool.query<CampaignRow>(sql.selectCampaign, [campaignId]);
  const row = result.rows[0];
  return row ? toCampaign(row) : undefined;
}

export interface CampaignListQuery {
  status?: CampaignStatus;
  type?: CampaignType;
  /** Campaigns with ids below this one (the previous page's last id). */
  before?: string;
  limit: number;
}

/** Newest first, keyset-paged by id. */
export async function listCampaigns(pool: Pool, query: CampaignListQuery): Promise<Campaign[]> {
  const result = await pool.query<CampaignRow>(sql.listCampaigns, [
    query.status ?? null,
    query.type ?? null,
    query.before ?? null,
    query.limit,
  ]);
  return result.rows.map(toCampaign);
}

/**
 * Applies an editor's changes if the campaign is still at `expectedVersion` and
 * has not started sending; returns the new version, or undefined on a conflict.
 * An edit withdraws an approval that has not started sending. `editId` names the
 * edit: applying it again (a retry) returns the version it made.
 */
export async function updateConfig(
  pool: Pool,
  campaignId: string,
  expectedVersion: number,
  changes: CampaignChanges,
  editId: string,
): Promise<number | undefined> {
  const row = (await pool.query<CampaignRow>(sql.selectCampaign, [campaignId])).rows[0];
  if (!row) return undefined;
  const pick = <T>(change: T | undefined, now: T): T => (change === undefined ? now : change);
  const result = await pool.query<{ config_version: number }>(sql.updateCampaignConfig, [
    campaignId,
    expectedVersion,
    pick(changes.name, row.name),
    pick(changes.type, row.type),
    pick(changes.reportYear, row.report_year),
    pick(changes.reportMonth, row.report_month),
    pick(changes.subject, row.subject),
    pick(changes.html, row.body_html),
    pick(changes.text, row.body_text),
    pick(changes.from, row.from_address),
    JSON.stringify(pick(changes.audience, row.audience)),
    pick(changes.testAddressIds, row.test_address_ids),
    changes.sendAt === undefined ? row.send_at : changes.sendAt === null ? null : new Date(changes.sendAt),
    editId,
  ]);
  return result.rows[0]?.config_version ?? appliedEdit(pool, campaignId, editId);
}

/** The version an edit made, if it was applied: how a retried edit knows it is done. */
export async function appliedEdit(pool: Pool, campaignId: string, editId: string): Promise<number | undefined> {
  const result = await pool.query<{ config_version: number }>(sql.selectAppliedEdit, [campaignId, editId]);
  return result.rows[0]?.config_version;
}

export interface Freeze {
  /** When to send, if later than now; otherwise the campaign sends at once. */
  sendAt: Date | null;
  send?: SendOptions;
  sendingDomain?: string;
  /** What every batch sends: the content as edited, with what approval added (the unsubscribe footer). */
  content: CampaignContent;
}

/**
 * Freezes content and audience for sending. Returns the send time kept (null: now; a time not later
 * than the database's clock is none), or undefined if the campaign moved past `expectedVersion` or has no content.
 */
export async function freezeCampaign(
  pool: Pool,
  campaignId: string,
  expectedVersion: number,
  { sendAt, send, sendingDomain, content }: Freeze,
): Promise<{ sendAt: Date | null } | undefined> {
  const result = await pool.query<{ send_at: Date | null }>(sql.freezeCampaign, [
    campaignId,
    expectedVersion,
    sendAt,
    send === undefined ? null : JSON.stringify(send),
    sendingDomain ?? null,
    JSON.stringify(content),
  ]);
  const row = result.rows[0];
  return row ? { sendAt: row.send_at } : undefined;
}

export async function markArchived(pool: Pool, campaignId: string): Promise<void> {
  await pool.query(sql.markArchived, [campaignId]);
}

/** Whether the campaign exists, and whether this write was applied (false when a newer `version` already was). */
export async function updateCampaignStatus(
  pool: Pool,
  campaignId: string,
  status: CampaignStatus,
  version: number,
  reason: string | null = null,
  actor: string | null = null,
): Promise<{ found: boolean; updated: boolean }> {
  const result = await pool.query<{ found: boolean; updated: boolean }>(sql.updateCampaignStatus, [
    campaignId,
    status,
    version,
    reason,
    actor,
  ]);
  return result.rows[0] ?? { found: false, updated: false };
}

/** A status the campaign entered, when, and who made the change (null: recorded before actors were). */
export interface CampaignTransition {
  status: CampaignStatus;
  at: Date;
  actor: string | null;
}

export async function campaignTransitions(pool: Pool, campaignId: string): Promise<CampaignTransition[]> {
  const result = await pool.query<CampaignTransition>(sql.selectTransitions, [campaignId]);
  return result.rows;
}

export async function findCampaignStats(pool: Pool, campaignId: string): Promise<CampaignStats | undefined> {
  const result = await pool.query<CampaignStats>(sql.selectStats, [campaignId]);
  return result.rows[0];
}
