import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { findCampaign, type Campaign } from '../db/campaigns.js';

/** The campaign an activity works on; a missing one fails the activity for good (retrying cannot bring it back). */
export async function requireCampaign(pool: Pool, campaignId: string): Promise<Campaign> {
  const campaign = await findCampaign(pool, campaignId);
  if (!campaign) throw ApplicationFailure.nonRetryable(`campaign ${campaignId} does not exist`, 'CampaignNotFound');
  return campaign;
}
