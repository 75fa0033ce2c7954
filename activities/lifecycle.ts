import { ApplicationFailure } from '@temporalio/activity';
import { FieldValue } from 'firebase-admin/firestore';
import type { CampaignChanges, DraftFacts, LifecycleState } from '../common/lifecycle.js';
import { draftFacts, freezeCampaign, markArchived, updateConfig } from '../db/campaigns.js';
import { requireCampaign } from './campaigns.js';
import type { ActivityDeps } from './deps.js';
import { FIRESTORE_CAMPAIGNS } from './state.js';

export interface SaveConfigInput {
  campaignId: string;
  expectedVersion: number;
  /** Identifies this edit, so a retry after it was applied recognises it. */
  editId: string;
  changes: CampaignChanges;
}

export interface ApproveInput {
  campaignId: string;
  configVersion: number;
  /** ISO 8601, or null to send now. */
  sendAt: string | null;
}

/** The campaign's configuration in Aurora, as the lifecycle workflow steers it: edits, approval, archive. */
export function createLifecycleActivities({ pool, firestore }: ActivityDeps) {
  return {
    /** What the workflow needs to know of a draft: its version and what it has, never its content. */
    async describeDraft(campaignId: string): Promise<DraftFacts> {
      return draftFacts(await requireCampaign(pool, campaignId));
    },

    /** Applies an editor's changes under the version they saw; a stale version is a conflict. */
    async saveConfig({ campaignId, expectedVersion, editId, changes }: SaveConfigInput): Promise<DraftFacts> {
      const version = await updateConfig(pool, campaignId, expectedVersion, changes, editId);
      if (version === undefined) {
        const campaign = await requireCampaign(pool, campaignId);
        throw ApplicationFailure.nonRetryable(
          campaign.configVersion !== expectedVersion
            ? `version conflict: the edit was made against version ${expectedVersion}, the campaign is at version ${campaign.configVersion}`
            : 'the campaign has started sending: it can no longer be edited',
          'VersionConflict',
        );
      }
      return draftFacts(await requireCampaign(pool, campaignId));
    },

    /** Freezes content and audience as approved: every batch sends exactly this, to the audience these filters select. */
    async approveCampaign({ campaignId, configVersion, sendAt }: ApproveInput): Promise<void> {
      if (await freezeCampaign(pool, campaignId, configVersion, sendAt === null ? null : new Date(sendAt))) return;
      const campaign = await requireCampaign(pool, campaignId);
      throw ApplicationFailure.nonRetryable(
        campaign.configVersion !== configVersion
          ? `version conflict: approval of version ${configVersion}, the campaign is at version ${campaign.configVersion}`
          : 'the campaign needs a subject and an html or text body before it can be approved',
        'CampaignNotApprovable',
      );
    },

    async archiveCampaign(campaignId: string): Promise<void> {
      await markArchived(pool, campaignId);
    },

    /** Mirrors the lifecycle's phase into Firestore `campaigns/{id}` for the CRM (set-merge: repeats change nothing). */
    async projectLifecycle(state: LifecycleState): Promise<void> {
      await firestore
        .collection(FIRESTORE_CAMPAIGNS)
        .doc(state.campaignId)
        .set(
          {
            campaignId: state.campaignId,
            status: state.phase,
            configVersion: state.configVersion,
            audienceCount: state.audience?.count ?? null,
            previewedVersion: state.previewedVersion,
            approvedVersion: state.approvedVersion,
            sendAt: state.sendAt,
            trackingUntil: state.trackingUntil,
            updatedAt: FieldValue.serverTimestamp(),
          },
          { merge: true },
        );
    },
  };
}
