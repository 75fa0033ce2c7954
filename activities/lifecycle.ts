import { ApplicationFailure } from '@temporalio/activity';
import { FieldValue } from 'firebase-admin/firestore';
import type { SendOptions } from '../common/campaign.js';
import type { CampaignChanges, DraftFacts, LifecycleState } from '../common/lifecycle.js';
import { draftFacts, freezeCampaign, markArchived, updateConfig } from '../db/campaigns.js';
import { approvedContent } from '../consent/unsubscribe-links.js';
import { loadEditDraft } from '../db/drafts.js';
import { requireCampaign } from './campaigns.js';
import type { ActivityDeps } from './deps.js';
import { FIRESTORE_CAMPAIGNS } from './state.js';

export interface SaveConfigInput {
  campaignId: string;
  expectedVersion: number;
  /** Identifies this edit, so a retry after it was applied recognises it. */
  editId: string;
  /** The draft in Aurora holding the changes; or, from requests made before drafts, the changes themselves. */
  draftId?: string;
  changes?: CampaignChanges;
}

export interface ApproveInput {
  campaignId: string;
  configVersion: number;
  /** ISO 8601, or null to send now. */
  sendAt: string | null;
  /** The send tuning approved with it, kept with the campaign (progress reads it from Aurora). */
  send?: SendOptions;
}

export interface Approval {
  /** ISO 8601 when the send time is still ahead (by the database's clock); null to send now. */
  sendAt: string | null;
}

/** The campaign's configuration in Aurora, as the lifecycle workflow steers it: edits, approval, archive. */
export function createLifecycleActivities({ pool, firestore, mail }: ActivityDeps) {
  return {
    /** What the workflow needs to know of a draft: its version and what it has, never its content. */
    async describeDraft(campaignId: string): Promise<DraftFacts> {
      return draftFacts(await requireCampaign(pool, campaignId));
    },

    /** Applies an editor's changes under the version they saw; a stale version is a conflict. */
    async saveConfig({ campaignId, expectedVersion, editId, draftId, changes }: SaveConfigInput): Promise<DraftFacts> {
      const edit = changes ?? (draftId === undefined ? undefined : await loadEditDraft(pool, campaignId, draftId));
      if (!edit) throw ApplicationFailure.nonRetryable(`campaign ${campaignId}: edit ${draftId ?? '(none)'} was not found`, 'EditNotFound');
      const version = await updateConfig(pool, campaignId, expectedVersion, edit, editId);
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

    /**
     * Freezes content and audience as approved: every batch sends exactly this, from this sender, to
     * the audience these filters select, on the stream's Mailgun domain. Says whether the send time is still ahead.
     */
    async approveCampaign({ campaignId, configVersion, sendAt, send }: ApproveInput): Promise<Approval> {
      const campaign = await requireCampaign(pool, campaignId);
      const refuse = (why: string) => ApplicationFailure.nonRetryable(why, 'CampaignNotApprovable');
      if (campaign.configVersion !== configVersion) {
        throw refuse(`version conflict: approval of version ${configVersion}, the campaign is at version ${campaign.configVersion}`);
      }
      if (!campaign.content) throw refuse('the campaign needs a subject and an html or text body before it can be approved');
      const approved = approvedContent(campaign.type, campaign.content, mail.unsubscribe);
      if ('problem' in approved) throw refuse(approved.problem);
      const stream = mail.streams[campaign.type];
      const frozen = await freezeCampaign(pool, campaignId, configVersion, {
        sendAt: sendAt === null ? null : new Date(sendAt),
        ...(send === undefined ? {} : { send }),
        sendingDomain: stream.domain,
        content: { ...approved.content, from: approved.content.from ?? stream.from },
      });
      if (frozen) return { sendAt: frozen.sendAt?.toISOString() ?? null };
      throw refuse(`version conflict: the campaign changed while version ${configVersion} was being approved`);
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
            paused: state.phase === 'paused',
            failureReason: state.failureReason ?? null,
            attentionReason: state.phase === 'needs-attention' ? (state.send?.attention ?? null) : null,
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
