import type { CampaignMetrics } from '../common/lifecycle.js';
import { projectAnalytics } from '../analytics/projector.js';
import { campaignMetrics, storeAnalytics } from '../db/analytics.js';
import { markUnprojected } from '../db/projection.js';
import type { ActivityDeps } from './deps.js';

export function createAnalyticsActivities({ pool, firestore }: ActivityDeps) {
  return {
    /**
     * Computes a campaign's figures and rates from its counters and stores them in Aurora
     * (campaign_analytics), then writes the campaign's counters to Firestore
     * `campaignAnalytics/{id}` through the projection; `final` marks the analysis done (it
     * never changes after).
     */
    async refreshAnalytics({ campaignId, final }: { campaignId: string; final: boolean }): Promise<CampaignMetrics> {
      const metrics = await campaignMetrics(pool, campaignId);
      await storeAnalytics(pool, campaignId, metrics, final);
      await markUnprojected(pool, campaignId);
      await projectAnalytics(pool, firestore, { campaignId, wait: true });
      return metrics;
    },
  };
}
