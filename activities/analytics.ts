import { FieldValue } from 'firebase-admin/firestore';
import type { CampaignMetrics } from '../common/lifecycle.js';
import { campaignMetrics, storeAnalytics } from '../db/analytics.js';
import type { ActivityDeps } from './deps.js';

export const FIRESTORE_CAMPAIGN_ANALYTICS = 'campaignAnalytics';

export function createAnalyticsActivities({ pool, firestore }: ActivityDeps) {
  return {
    /**
     * Computes a campaign's figures and rates from its counters and stores
     * them in Aurora (campaign_analytics) and Firestore
     * `campaignAnalytics/{id}`; `final` marks the analysis done (it never
     * changes after).
     */
    async refreshAnalytics({ campaignId, final }: { campaignId: string; final: boolean }): Promise<CampaignMetrics> {
      const metrics = await campaignMetrics(pool, campaignId);
      await storeAnalytics(pool, campaignId, metrics, final);
      await firestore
        .collection(FIRESTORE_CAMPAIGN_ANALYTICS)
        .doc(campaignId)
        .set({ campaignId, ...metrics, final, updatedAt: FieldValue.serverTimestamp() }, { merge: true });
      return metrics;
    },
  };
}
