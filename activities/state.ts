import { ApplicationFailure } from '@temporalio/activity';
import { FieldValue } from 'firebase-admin/firestore';
import type { CampaignStatus, SendProgress } from '../common/campaign.js';
import { updateCampaignStatus } from '../db/campaigns.js';
import type { ActivityDeps } from './deps.js';

export const FIRESTORE_CAMPAIGNS = 'campaigns';

export function createStateActivities({ pool, firestore }: ActivityDeps) {
  return {
    /**
     * Aurora is the truth for a campaign's status. `version` grows with every
     * write the lifecycle makes, so a write delayed past a newer one (say, from a
     * worker that died mid-write) changes nothing. `reason` says why it failed, with 'failed', or
     * why it waits for an operator, with 'needs-attention'. `actor` made the change (campaign_transitions.actor).
     */
    async setCampaignStatus(campaignId: string, status: CampaignStatus, version: number, reason: string | null = null, actor: string | null = null): Promise<void> {
      const { found } = await updateCampaignStatus(pool, campaignId, status, version, reason, actor);
      if (!found) throw ApplicationFailure.nonRetryable(`campaign ${campaignId} does not exist`, 'CampaignNotFound');
    },

    /**
     * Mirrors a send's counts into Firestore `campaigns/{id}.progress` for the CRM's live view.
     * Absolute counts with set-merge, so a repeated write changes nothing. The status beside
     * them is the lifecycle's to write (projectLifecycle).
     */
    async projectProgress(progress: SendProgress): Promise<void> {
      await firestore
        .collection(FIRESTORE_CAMPAIGNS)
        .doc(progress.campaignId)
        .set(
          {
            campaignId: progress.campaignId,
            progress: {
              total: progress.total,
              sent: progress.sent,
              failed: progress.failed,
              inFlight: progress.inFlight,
              batchesTotal: progress.batchesTotal,
              batchesDone: progress.batchesDone,
              parkedBatches: progress.parkedBatches.length,
              unknownBatches: progress.unknownBatches.length,
            },
            updatedAt: FieldValue.serverTimestamp(),
          },
          { merge: true },
        );
    },
  };
}
