import type { Pool } from 'pg';
import { ZERO_COUNTERS, type EngagementCounters } from '../common/engagement.js';
import { computeMetrics, type CampaignMetrics } from '../common/lifecycle.js';
import { sql } from './queries.js';

export interface CampaignCounters extends EngagementCounters {
  campaignId: string;
  /** The campaign's analysis is done; its figures no longer change. */
  final: boolean;
}

/** A campaign's counters (the send, the webhooks and reconciliation keep them); undefined before it has any. */
export async function findCounters(pool: Pool, campaignId: string): Promise<(CampaignCounters & { updatedAt: Date }) | undefined> {
  const { rows } = await pool.query<CampaignCounters & { updatedAt: Date }>(sql.selectCounters, [campaignId]);
  return rows[0];
}

/** A campaign's figures from its counters, as its analysis stores them: opens and clicks by recipient. */
export async function campaignMetrics(pool: Pool, campaignId: string): Promise<CampaignMetrics> {
  const c = (await findCounters(pool, campaignId)) ?? ZERO_COUNTERS;
  return computeMetrics({
    sent: c.sent,
    delivered: c.delivered,
    opened: c.uniqueOpened,
    clicked: c.uniqueClicked,
    bounced: c.bounced,
    complained: c.complained,
    unsubscribed: c.unsubscribed,
  });
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
    metrics.complaintRate,
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
