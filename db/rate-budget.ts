import type { Pool } from 'pg';
import { sql } from './queries.js';

/**
 * Sending rate budgets in Aurora, shared by every campaign and worker: one per
 * Mailgun domain (Mailgun rate-limits per domain), and one per campaign that
 * has its own ceiling. A batch reserves its slot, then waits for it.
 */

/** The budget of a Mailgun domain. */
export function domainBudget(domain: string): string {
  return domain.toLowerCase();
}

/** A campaign's own ceiling (its ratePerSecond send option); a colon never appears in a domain. */
export function campaignBudget(campaignId: string): string {
  return `campaign:${campaignId}`;
}

export interface RateSlot {
  /** How long until the reserved slot begins, by the database's clock. */
  waitMs: number;
  /** The budget's current fraction of its configured rate (below 1 after Mailgun's 429s). */
  factor: number;
}

/** Reserves the next slot for `messages` on `budget`, configured at `ratePerSecond`. */
export async function reserveSlot(pool: Pool, budget: string, ratePerSecond: number, messages: number): Promise<RateSlot> {
  const result = await pool.query<RateSlot>(sql.reserveRateSlot, [budget, ratePerSecond, messages]);
  const row = result.rows[0];
  if (!row) throw new Error(`no rate slot was reserved on ${budget}`);
  return row;
}

/** Mailgun answered 429: the budget slows down for everyone sending on it. */
export async function slowDown(pool: Pool, budget: string, retryAfterMs: number): Promise<void> {
  await pool.query(sql.slowRateBudget, [budget, retryAfterMs]);
}

/** A batch went out cleanly after a slowdown: the budget recovers a step. */
export async function recover(pool: Pool, budget: string): Promise<void> {
  await pool.query(sql.recoverRateBudget, [budget]);
}

export interface RateBudget {
  budget: string;
  /** As configured. */
  ratePerSecond: number;
  /** After Mailgun's 429s have slowed it. */
  currentPerSecond: number;
  rateLimits: number;
  rateLimitedAt: Date | null;
}

export async function findBudget(pool: Pool, budget: string): Promise<RateBudget | undefined> {
  const result = await pool.query<RateBudget>(sql.selectRateBudget, [budget]);
  return result.rows[0];
}
