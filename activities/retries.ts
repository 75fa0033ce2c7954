import { ApplicationFailure } from '@temporalio/activity';
import type { CampaignStatus } from '../common/campaign.js';
import type { RetryRequest } from '../common/retries.js';
import { freezeRetryRound, RetryRefused, setRoundStatus } from '../db/retries.js';
import { requireCampaign } from './campaigns.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';

/** A frozen round, as the send workflow needs it: how many, and where its ordinals start. */
export interface FrozenRound {
  frozen: number;
  complete: true;
  firstOrdinal: number;
}

export function createRetryActivities({ pool }: ActivityDeps) {
  return {
    /**
     * Freezes who a retry round sends to (db/retries.ts): once, whatever retries it takes. A round
     * that would be wrong (the campaign still sending, a round out of turn, never approved) fails
     * for good with the reason.
     */
    async freezeRetryRound({ campaignId, round, reasonLike, temporaryAfterMs, requestedBy }: RetryRequest): Promise<FrozenRound> {
      const campaign = await requireCampaign(pool, campaignId);
      if (!campaign.frozenAudience || !campaign.frozenContent) {
        throw ApplicationFailure.nonRetryable(`campaign ${campaignId} was never approved: there is nothing to retry`, 'CampaignNotApproved');
      }
      try {
        const frozen = await withHeartbeat(
          freezeRetryRound(pool, {
            campaignId,
            round,
            stream: campaign.type,
            audience: campaign.frozenAudience,
            temporaryAfterMs,
            ...(reasonLike === undefined ? {} : { reasonLike }),
            requestedBy: requestedBy ?? 'library',
          }),
        );
        return { frozen: frozen.recipients, complete: true, firstOrdinal: frozen.firstOrdinal };
      } catch (error) {
        if (error instanceof RetryRefused) throw ApplicationFailure.nonRetryable(error.message, 'RetryRefused');
        throw error;
      }
    },

    /** A retry round's status, written by its send workflow (the campaign's own status is the lifecycle's). */
    async setRetryStatus(campaignId: string, round: number, status: CampaignStatus, version: number, reason: string | null = null): Promise<void> {
      await setRoundStatus(pool, campaignId, round, status, version, reason);
    },
  };
}
