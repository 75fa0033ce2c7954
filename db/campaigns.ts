import type { Pool } from 'pg';
import type { AudienceFilter, CampaignStatus, CampaignType } from '../common/campaign.js';
import { sql } from './queries.js';

export interface CampaignContent {
  subject: string;
  html?: string;
  text?: string;
  from?: string;
}

export interface NewCampaign {
  name: string;
  type: CampaignType;
  content?: CampaignContent;
  audience: AudienceFilter;
}

export interface Campaign {
  id: string;
  name: string;
  type: CampaignType;
  status: CampaignStatus;
  content: CampaignContent | undefined;
  audience: AudienceFilter;
  totalRecipients: number | null;
  audienceSnapshotAt: Date | null;
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
  };
}

export async function insertCampaign(pool: Pool, campaign: NewCampaign): Promise<string> {
  const { content } = campaign;
  const result = await pool.query<{ id: string }>(sql.insertCampaign, [
    campaign.name,
    campaign.type,
    content?.subject ?? null,
    content?.html ?? null,
    content?.text ?? null,
    content?.from ?? null,
    JSON.stringify(campaign.audience),
  ]);
  const row = result.rows[0];
  if (!row) throw new Error('insert into campaigns returned no id');
  return row.id;
}

export async function findCampaign(pool: Pool, campaignId: string): Promise<Campaign | undefined> {
  const result = await pool.query<CampaignRow>(sql.selectCampaign, [campaignId]);
  const row = result.rows[0];
  return row ? toCampaign(row) : undefined;
}

/** Whether the campaign exists, and whether this write was applied (false when a newer `version` already was). */
export async function updateCampaignStatus(
  pool: Pool,
  campaignId: string,
  status: CampaignStatus,
  version: number,
): Promise<{ found: boolean; updated: boolean }> {
  const result = await pool.query<{ found: boolean; updated: boolean }>(sql.updateCampaignStatus, [campaignId, status, version]);
  return result.rows[0] ?? { found: false, updated: false };
}

export async function findCampaignStats(pool: Pool, campaignId: string): Promise<CampaignStats | undefined> {
  const result = await pool.query<CampaignStats>(sql.selectStats, [campaignId]);
  return result.rows[0];
}

export interface SnapshotStep {
  /** Recipients frozen so far: ordinals 1..frozen are final. */
  frozen: number;
  /** The audience is exhausted: `frozen` is the campaign's total. */
  complete: boolean;
}

/**
 * Freezes the next page of the campaign's audience into campaign_recipients, in
 * user id order, or finishes the snapshot when the audience is exhausted. Each
 * page is its own transaction under a lock on the campaign row, so an
 * interrupted snapshot resumes where it stopped, two attempts never interleave,
 * and the ordinals of a committed page never change: batches within them can
 * be sent while later pages are still being taken. Once complete, a further
 * call (an activity retry, a resumed workflow) returns the first snapshot's
 * size: new users never join it.
 */
export async function snapshotAudienceStep(
  pool: Pool,
  campaignId: string,
  audience: AudienceFilter,
  pageSize: number,
): Promise<SnapshotStep> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const locked = await client.query<{ audience_snapshot_at: Date | null; total_recipients: number | null }>(
      sql.lockCampaign,
      [campaignId],
    );
    const campaign = locked.rows[0];
    if (!campaign) throw new Error(`campaign ${campaignId} does not exist`);
    if (campaign.audience_snapshot_at !== null) {
      await client.query('COMMIT');
      return { frozen: campaign.total_recipients ?? 0, complete: true };
    }
    const cursor = (await client.query<{ ordinal: number; user_id: string }>(sql.selectSnapshotCursor, [campaignId])).rows[0];
    const before = cursor?.ordinal ?? 0;
    const room = (audience.limit ?? Number.MAX_SAFE_INTEGER) - before;
    const wanted = Math.min(pageSize, room);
    const inserted =
      wanted <= 0
        ? 0
        : ((
            await client.query(sql.snapshotAudiencePage, [
              campaignId,
              before,
              cursor?.user_id ?? '0',
              audience.subscriptionStatuses ?? ['subscribed'],
              audience.emailType ?? null,
              wanted,
            ])
          ).rowCount ?? 0);
    const frozen = before + inserted;
    const complete = !(inserted === wanted && wanted > 0 && wanted < room);
    // The stats row exists from the first page on: batches may be counted in it before the snapshot completes.
    await client.query(sql.upsertStatsTotal, [campaignId, frozen]);
    if (complete) await client.query(sql.markSnapshotTaken, [campaignId, frozen]);
    await client.query('COMMIT');
    return { frozen, complete };
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/** Takes the whole snapshot, page after page; `onPage` hears how many recipients are frozen so far. */
export async function snapshotAudience(
  pool: Pool,
  campaignId: string,
  audience: AudienceFilter,
  { pageSize = 20_000, onPage = (_frozen: number) => {} } = {},
): Promise<number> {
  for (;;) {
    const step = await snapshotAudienceStep(pool, campaignId, audience, pageSize);
    if (step.complete) return step.frozen;
    onPage(step.frozen);
  }
}

export interface BatchRecipient {
  ordinal: number;
  user_id: string;
  email: string;
  name: string | null;
  custom_id: string | null;
}

export async function loadBatchRecipients(
  pool: Pool,
  campaignId: string,
  firstOrdinal: number,
  lastOrdinal: number,
): Promise<BatchRecipient[]> {
  const result = await pool.query<BatchRecipient>(sql.selectBatchRecipients, [campaignId, firstOrdinal, lastOrdinal]);
  return result.rows;
}

/**
 * Records recipients who will not get the campaign, with the reason, each once
 * (counted in campaign_stats.failed); with `suppress`, their users are
 * suppressed for later campaigns too. Returns how many were newly failed.
 */
export async function failRecipients(
  pool: Pool,
  campaignId: string,
  ordinals: number[],
  reason: string,
  suppress: boolean,
): Promise<number> {
  if (ordinals.length === 0) return 0;
  const result = await pool.query<{ failed: number }>(sql.failRecipients, [campaignId, ordinals, reason, suppress]);
  return result.rows[0]?.failed ?? 0;
}

export interface FailedRecipient {
  ordinal: number;
  userId: string;
  email: string;
  reason: string;
  failedAt: Date;
}

export async function failedRecipients(pool: Pool, campaignId: string, limit = 100): Promise<FailedRecipient[]> {
  const result = await pool.query<FailedRecipient>(sql.selectFailedRecipients, [campaignId, limit]);
  return result.rows;
}
