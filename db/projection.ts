import type { Pool, PoolClient } from 'pg';
import type { CampaignCounters } from './analytics.js';
import { inTransaction } from './pool.js';
import { sql } from './queries.js';

/** The bookkeeping of the Firestore projection of campaign counters. */

export interface UnprojectedCounters extends CampaignCounters {
  /** events_version when read: what `markProjected` records once written. */
  version: string;
}

/** Any number will do, as long as nothing else in the database takes this advisory lock. */
const PROJECTION_LOCK = 7_301_884_112;

/**
 * Runs `work` in a transaction holding the projection lock, so projections (from every API
 * instance and worker) write Firestore one at a time and never overwrite newer figures with
 * older ones. Without `wait`, returns undefined at once if another holds it.
 */
export async function withProjectionLock<T>(pool: Pool, wait: boolean, work: (client: PoolClient) => Promise<T>): Promise<T | undefined> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ locked: boolean }>(wait ? sql.lockProjection : sql.tryLockProjection, [PROJECTION_LOCK]);
    return rows[0]?.locked ? work(client) : undefined;
  });
}

export async function selectUnprojected(client: PoolClient, limit: number, campaignId: string | null): Promise<UnprojectedCounters[]> {
  const { rows } = await client.query<UnprojectedCounters>(sql.selectUnprojected, [limit, campaignId]);
  return rows;
}

export async function markProjected(client: PoolClient, written: readonly UnprojectedCounters[]): Promise<void> {
  await client.query(sql.markProjected, [written.map((c) => c.campaignId), written.map((c) => c.version)]);
}

/** The campaign's counters changed outside the event path (the send, an analysis): project them again. */
export async function markUnprojected(pool: Pool, campaignId: string): Promise<void> {
  await pool.query(sql.markUnprojected, [campaignId]);
}
