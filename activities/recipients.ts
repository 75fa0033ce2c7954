import { ApplicationFailure, Context } from '@temporalio/activity';
import { findCampaign, snapshotAudience as freezeAudience } from '../db/campaigns.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';

export interface AudienceSnapshot {
  total: number;
}

/** Recipients frozen per transaction: small enough to heartbeat often, large enough to be quick. */
const SNAPSHOT_PAGE_SIZE = 20_000;

export function createRecipientActivities({ pool }: ActivityDeps) {
  return {
    /**
     * Freezes who the campaign goes to, a page at a time, heartbeating; a retry
     * after a crash resumes at the last committed page. Taken once: a retry or a
     * continued run gets the first snapshot back, never a new one.
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
      const context = Context.current();
      const total = await withHeartbeat(
        freezeAudience(pool, campaignId, campaign.audience, {
          pageSize: SNAPSHOT_PAGE_SIZE,
          onPage: (frozen) => context.heartbeat({ frozen }),
        }),
      );
      return { total };
    },
  };
}
