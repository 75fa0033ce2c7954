import type { Pool } from 'pg';
import type { SubscriptionStatus } from '../common/campaign.js';
import { sql } from './queries.js';

/** A person's consent per stream (README, "Streams and consent"). */

export interface Subscription {
  stream: string;
  status: SubscriptionStatus;
  reason: string | null;
  source: string;
  campaignId: string | null;
  changedAt: Date;
}

/** A user's streams, in stream order; empty for a user with none (or no such user). */
export async function subscriptionsOf(pool: Pool, userId: string): Promise<Subscription[]> {
  const { rows } = await pool.query<Subscription>(sql.selectSubscriptions, [userId]);
  return rows;
}

export interface ConsentChange {
  userId: string;
  streams: readonly string[];
  status: SubscriptionStatus;
  /** unsubscribed, resubscribed, … */
  reason: string;
  /** one-click, preferences, … */
  source: string;
  /** The campaign whose link the person used. */
  campaignId: string | null;
}

/**
 * Sets a person's consent for the streams; rows already at that status are left as they are (so a
 * repeated request changes and counts nothing). Undefined when there is no such user; otherwise the streams changed.
 */
export async function setConsent(pool: Pool, change: ConsentChange): Promise<string[] | undefined> {
  const { rows } = await pool.query<{ people: number; changed: string[] }>(sql.setConsent, [
    change.userId,
    change.streams,
    change.status,
    change.reason,
    change.source,
    change.campaignId,
  ]);
  return rows[0]?.people ? rows[0].changed : undefined;
}
