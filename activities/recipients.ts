import { ApplicationFailure } from '@temporalio/activity';
import type { AudiencePreview } from '../common/lifecycle.js';
import { countAudience, snapshotAudienceStep, type SnapshotStep } from '../db/audience.js';
import { requireCampaign } from './campaigns.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';

export type { SnapshotStep } from '../db/audience.js';

/** Recipients frozen per activity: a fraction of a second's work, so sending can start after the first. */
export const SNAPSHOT_PAGE_SIZE = 20_000;

export function createRecipientActivities({ pool, metrics }: ActivityDeps) {
  return {
    /**
     * Freezes the next page of who the campaign goes to, by the filters frozen
     * at approval (see snapshotAudienceStep): the workflow calls it until the
     * snapshot is complete, sending the batches of each committed page
     * meanwhile. A retry after a crash resumes at the last committed page; once
     * complete, the snapshot never changes.
     */
    async snapshotAudiencePage(campaignId: string): Promise<SnapshotStep> {
      const campaign = await requireCampaign(pool, campaignId);
      if (!campaign.frozenContent || !campaign.frozenAudience) {
        throw ApplicationFailure.nonRetryable(
          `campaign ${campaignId} has not been approved: its content and audience are not frozen`,
          'CampaignNotApproved',
        );
      }
      const { frozen, complete, added } = await withHeartbeat(snapshotAudienceStep(pool, campaignId, campaign.frozenAudience, SNAPSHOT_PAGE_SIZE));
      metrics.snapshotted.inc({ type: campaign.type }, added);
      return { frozen, complete };
    },

    /** How many recipients the campaign's filters select now, and a few of their ids; nothing is frozen. */
    async previewAudience(campaignId: string): Promise<AudiencePreview> {
      const campaign = await requireCampaign(pool, campaignId);
      const { count, sampleUserIds } = await withHeartbeat(countAudience(pool, campaignId, campaign.type, campaign.audience));
      return { count, sampleUserIds, configVersion: campaign.configVersion };
    },
  };
}
