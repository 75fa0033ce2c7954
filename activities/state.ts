import { ApplicationFailure } from '@temporalio/activity';
import { FieldValue } from 'firebase-admin/firestore';
import type { CampaignStatus, SendProgress } from '../common/campaign.js';
import { updateCampaignStatus } from '../db/campaigns.js';
import type { ActivityDeps } from './deps.js';

export const FIRESTORE_CAMPAIGNS = 'campaigns';

export function createStateActivities({ pool, firestore }: ActivityDeps) {
  return {
    /** Aurora is the truth for a campaign's status. */
    async setCampaignStatus(campaignId: string, status: CampaignStatus): Promise<void> {
      const found = await updateCampaignStatus(pool, campaignId, status);
      if (!found) throw ApplicationFailure.nonRetryable(`campaign ${campaignId} does not exist`, 'CampaignNotFound');
    },

    /**
     * Mirrors progress into Firestore `campaigns/{id}` for the CRM's live view.
     * Absolute counts with set-merge, so a repeated write changes nothing.
     */
    async projectProgress(progress: SendProgress): Promise<void> {
      await firestore
        .collection(FIRESTORE_CAMPAIGNS)
        .doc(progress.campaignId)
        .set(
          {
            campaignId: progress.campaignId,
            status: progress.status,
            paused: progress.paused,
            progress: {
              total: progress.total,
              sent: progress.sent,
              failed: progress.failed,
              inFlight: progress.inFlight,
              batchesTotal: progress.batchesTotal,
              batchesDone: progress.batchesDone,
            },
            updatedAt: FieldValue.serverTimestamp(),
          },
          { merge: true },
        );
    },
  };
}
