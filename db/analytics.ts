import type { Pool } from 'pg';
import { ZERO_COUNTERS, type EngagementCounters } from '../common/engagement.js';
import { computeMetrics, type CampaignMetrics } from '../common/lifecycle.js';
import { sql } from './queries.js';

/** A campaign's figures from its counters (the webhooks and reconciliation keep those), stored as its analysis. */
export async function campaignMetrics(pool: Pool, campaignId: string): Promise<CampaignMetrics> {
  const result = await pool.query<Omit<CampaignMetrics, `${string}Rate`>>(sql.selectEngagement, [campaignId]);
  const counts = result.rows[0] ?? { sent: 0, delivered: 0, opened: 0, clicked: 0, bounced: 0, complained: 0, unsubscribed: 0 };
  return computeMetrics(counts);
}

/** Stores the figures; once stored as final, they never change. */
export async function storeAnalytics(pool: Pool, campaignId: string, metrics: CampaignMetrics, final: boolean): Promise<void> {
  await pool.query(sql.upsertAnalytics, [
    campaignId,
    metrics.sent,
    metrics.delivered,
    metrics.opened,
    metrics.clicked,
    metrics.bounced,
    metrics.complained,
    metrics.unsubscribed,
    metrics.deliveryRate,
    metrics.openRate,
    metrics.clickRate,
    metrics.bounceRate,
    metrics.unsubscribeRate,
    final,
  ]);
}

export interface AnalyticsSummaryRow extends EngagementCounters {
  campaigns: number;
}

/** Counters summed over the campaigns whose send started in [from, to), of one type or all. */
export async function analyticsSummary(pool: Pool, from: Date, to: Date, type: string | null): Promise<AnalyticsSummaryRow> {
  const { rows } = await pool.query<AnalyticsSummaryRow>(sql.selectAnalyticsSummary, [from, to, type]);
  return rows[0] ?? { campaigns: 0, ...ZERO_COUNTERS };
}
