import { ApplicationFailure } from '@temporalio/activity';
import { findCampaign, snapshotAudience as freezeAudience } from '../db/campaigns.js';
import type { ActivityDeps } from './deps.js';

export interface AudienceSnapshot {
  total: number;
}

export function createRecipientActivities({ pool }: ActivityDeps) {
  return {
    /**
     * Freezes who the campaign goes to. Taken once: a retry or a continued run
     * gets the first snapshot back, never a new one.
     */
    async snapshotAudience(campaignId: string): Promise<AudienceSnapshot> {
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
      return { total: await freezeAudience(pool, campaignId, campaign.audience) };
    },
  };
}
