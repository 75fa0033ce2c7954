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

/** Returns false when no such campaign exists. */
export async function updateCampaignStatus(pool: Pool, campaignId: string, status: CampaignStatus): Promise<boolean> {
  const result = await pool.query(sql.updateCampaignStatus, [campaignId, status]);
  return result.rowCount === 1;
}

export async function findCampaignStats(pool: Pool, campaignId: string): Promise<CampaignStats | undefined> {
  const result = await pool.query<CampaignStats>(sql.selectStats, [campaignId]);
  return result.rows[0];
}

/**
 * Freezes the campaign's audience into campaign_recipients, once. A second call
 * (an activity retry, a resumed workflow) returns the first snapshot's size.
 */
export async function snapshotAudience(pool: Pool, campaignId: string, audience: AudienceFilter): Promise<number> {
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
      return campaign.total_recipients ?? 0;
    }
    const inserted = await client.query(sql.snapshotAudience, [
      campaignId,
      audience.subscriptionStatuses ?? ['subscribed'],
      audience.emailType ?? null,
      audience.limit ?? null,
    ]);
    const total = inserted.rowCount ?? 0;
    await client.query(sql.markSnapshotTaken, [campaignId, total]);
    await client.query(sql.upsertStatsTotal, [campaignId, total]);
    await client.query('COMMIT');
    return total;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
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
