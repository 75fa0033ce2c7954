import type { Pool } from 'pg';
import type { SubscriptionStatus } from '../common/campaign.js';
import { sql } from './queries.js';

/** The user list the CRM reads, and addresses to user ids. */

export interface UserListItem {
  id: string;
  email: string;
  name: string | null;
  customId: string | null;
  subscriptionStatus: SubscriptionStatus;
  emailTypes: string[];
}

export interface UserListQuery {
  subscriptionStatus?: SubscriptionStatus;
  emailType?: string;
  /** Users after this id (the previous page's last id). */
  after?: string;
  limit: number;
}

/** Active users in id order, keyset-paged: a page never skips or repeats anyone, whatever is inserted meanwhile. */
export async function listUsers(pool: Pool, query: UserListQuery): Promise<UserListItem[]> {
  const result = await pool.query<UserListItem>(sql.listUsers, [
    query.subscriptionStatus ?? null,
    query.emailType ?? null,
    query.after ?? '0',
    query.limit,
  ]);
  return result.rows;
}

/** The user id of each address that belongs to a user (case-insensitive); addresses of nobody are left out. */
export async function userIdsByEmail(pool: Pool, emails: string[]): Promise<Map<string, string>> {
  const result = await pool.query<{ id: string; email: string }>(sql.selectUserIdsByEmail, [emails]);
  return new Map(result.rows.map((row) => [row.email, row.id]));
}

export interface Suppression {
  id: string;
  email: string;
  /** unsubscribed, complained, bounced, or why the send refused the address. */
  reason: string | null;
  suppressedAt: Date;
}

/** Suppressed users in id order, keyset-paged. */
export async function listSuppressions(pool: Pool, query: { reason?: string; after?: string; limit: number }): Promise<Suppression[]> {
  const { rows } = await pool.query<Suppression>(sql.listSuppressions, [query.reason ?? null, query.after ?? '0', query.limit]);
  return rows;
}

/** Lets a user receive campaigns again. Undefined if no such user; `lifted` false if they were not suppressed. */
export interface LiftedSuppression {
  userId: string;
  lifted: boolean;
  /** Streams a complaint had stopped, given back. */
  streamsLifted: string[];
  /** Streams the person unsubscribed from: only they can subscribe again. */
  unsubscribedKept: string[];
}

export async function liftSuppression(pool: Pool, user: { id: string } | { email: string }): Promise<LiftedSuppression | undefined> {
  const { rows } = await pool.query<LiftedSuppression>(sql.liftSuppression, [
    'id' in user ? user.id : null,
    'email' in user ? user.email : null,
  ]);
  return rows[0];
}
