import type { Pool } from 'pg';
import type { AudienceFilter } from '../common/campaign.js';
import { inTransaction } from './pool.js';
import { sql } from './queries.js';

/** Who a campaign goes to: counting the filters' audience, freezing it, and the frozen recipients. */

/**
 * The seven audienceWhere parameters (db/queries.ts) for a filter of campaign `campaignId`, whose
 * stream (its type) is `stream`, from user id `after` on.
 */
export function audienceParams(stream: string, audience: AudienceFilter, campaignId: string, after = '0'): unknown[] {
  return [
    stream,
    audience.subscriptionStatuses ?? ['subscribed'],
    audience.emailType ?? null,
    audience.userIds ?? null,
    after,
    audience.hasReportId ?? false,
    audience.requireReportLinks ? campaignId : null,
  ];
}

export interface AudienceCount {
  count: number;
  sampleUserIds: string[];
}

/** How many recipients of `stream` the filters select now (and the first few ids), without freezing anything. */
export async function countAudience(pool: Pool, campaignId: string, stream: string, audience: AudienceFilter): Promise<AudienceCount> {
  const result = await pool.query<AudienceCount>(sql.previewAudience, [...audienceParams(stream, audience, campaignId), audience.limit ?? null]);
  return result.rows[0] ?? { count: 0, sampleUserIds: [] };
}

export interface SnapshotStep {
  /** Recipients frozen so far: ordinals 1..frozen are final. */
  frozen: number;
  /** The audience is exhausted: `frozen` is the campaign's total. */
  complete: boolean;
}

/** A step, and how many recipients it froze itself. */
export interface SnapshotPage extends SnapshotStep {
  added: number;
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
): Promise<SnapshotPage> {
  return inTransaction(pool, async (client) => {
    const locked = await client.query<{ type: string; audience_snapshot_at: Date | null; total_recipients: number | null }>(
      sql.lockCampaign,
      [campaignId],
    );
    const campaign = locked.rows[0];
    if (!campaign) throw new Error(`campaign ${campaignId} does not exist`);
    if (campaign.audience_snapshot_at !== null) return { frozen: campaign.total_recipients ?? 0, complete: true, added: 0 };
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
              ...audienceParams(campaign.type, audience, campaignId, cursor?.user_id ?? '0'),
              wanted,
            ])
          ).rowCount ?? 0);
    const frozen = before + inserted;
    const complete = !(inserted === wanted && wanted > 0 && wanted < room);
    // The stats row exists from the first page on: batches may be counted in it before the snapshot completes.
    await client.query(sql.upsertStatsTotal, [campaignId, frozen]);
    if (complete) await client.query(sql.markSnapshotTaken, [campaignId, frozen]);
    return { frozen, complete, added: inserted };
  });
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
