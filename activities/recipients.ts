import { ApplicationFailure } from '@temporalio/activity';
import { findCampaign, snapshotAudienceStep, type SnapshotStep } from '../db/campaigns.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';

export type { SnapshotStep } from '../db/campaigns.js';

/** Recipients frozen per activity: a fraction of a second's work, so sending can start after the first. */
export const SNAPSHOT_PAGE_SIZE = 20_000;

export function createRecipientActivities({ pool }: ActivityDeps) {
  return {
    /**
     * Freezes the next page of who the campaign goes to (see snapshotAudienceStep):
     * the workflow calls it until the snapshot is complete, sending the batches of
     * each committed page meanwhile. A retry after a crash resumes at the last
     * committed page; once complete, the snapshot never changes.
     */
    async snapshotAudiencePage(campaignId: string): Promise<SnapshotStep> {
      const campaign = await findCampaign(pool, campaignId);
      if (!campaign) {
        throw ApplicationFailure.nonRetryable(`campaign ${campaignId} does not exist`, 'CampaignNotFound');
      }
      if (!campaign.content) {
        throw ApplicationFailure.nonRetryable(
          `campaign ${campaignId} has no content (subject and html or text) to send`,
          'CampaignWithoutContent',
        );
      }
      return withHeartbeat(snapshotAudienceStep(pool, campaignId, campaign.audience, SNAPSHOT_PAGE_SIZE));
    },
  };
}
