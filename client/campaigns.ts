import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Pool } from 'pg';
import { isCampaignId, sendWorkflowId, type BatchResolution, type SendOptions, type SendProgress } from '../common/campaign.js';
import { CampaignIdAttr, CampaignStatusAttr, CampaignTypeAttr } from '../common/search-attributes.js';
import {
  failedRecipients,
  findCampaign,
  findCampaignStats,
  insertCampaign,
  type Campaign,
  type CampaignStats,
  type FailedRecipient,
} from '../db/campaigns.js';
import { ledgerSummary, unsettledParts, type LedgerSummary, type UnsettledPart } from '../db/ledger.js';
import type { campaignSend } from '../workflows/campaign-send.js';
import {
  CAMPAIGN_SEND_WORKFLOW,
  cancelUpdate,
  pauseUpdate,
  progressQuery,
  resolveBatchUpdate,
  resumeUpdate,
} from '../workflows/campaign-send-api.js';
import {
  InvalidInputError,
  newCampaignSchema,
  parseInput,
  resolveBatchSchema,
  sendOptionsSchema,
  type NewCampaignInput,
  type SendOptionsInput,
} from './validation.js';

/** A request that cannot be carried out as asked: unknown campaign, nothing to send, already sending... */
export class CampaignError extends Error {
  constructor(
    message: string,
    readonly code: 'not-found' | 'no-content' | 'already-started' | 'not-started' | 'rejected',
  ) {
    super(message);
    this.name = 'CampaignError';
  }
}

export interface CampaignClientDeps {
  pool: Pool;
  /** Needed to start and steer sends; creating and reading campaigns work without it. */
  temporal?: Client;
  taskQueue: string;
  /** Send tuning used when a caller gives none. */
  sendDefaults: SendOptions;
}

export interface CampaignReport {
  campaign: Campaign;
  stats: CampaignStats | undefined;
  ledger: LedgerSummary[];
  /** Parts whose outcome is not known yet: `sending` (parked, being proven) or `unknown` (an operator decides). */
  unsettled: UnsettledPart[];
  /** Recipients who will not get this campaign, with the reason (the first 100). */
  failedRecipients: FailedRecipient[];
}

/** What backend triggers use to create campaigns and steer their sends. */
export class CampaignClient {
  constructor(private readonly deps: CampaignClientDeps) {}

  async create(input: NewCampaignInput): Promise<string> {
    const campaign = parseInput(newCampaignSchema, input, 'campaign');
    return insertCampaign(this.deps.pool, campaign);
  }

  async get(campaignId: string): Promise<CampaignReport> {
    const campaign = await this.requireCampaign(campaignId);
    const [stats, ledger, unsettled, failed] = await Promise.all([
      findCampaignStats(this.deps.pool, campaignId),
      ledgerSummary(this.deps.pool, campaignId),
      unsettledParts(this.deps.pool, campaignId),
      failedRecipients(this.deps.pool, campaignId),
    ]);
    return { campaign, stats, ledger, unsettled, failedRecipients: failed };
  }

  /** Starts the send workflow `campaign-send-<id>`; refuses unknown campaigns, campaigns without content, and second starts. */
  async startSend(campaignId: string, options: SendOptionsInput = {}): Promise<{ workflowId: string; runId: string }> {
    const tuning = { ...this.deps.sendDefaults, ...parseInput(sendOptionsSchema, options, 'options') };
    const campaign = await this.requireCampaign(campaignId);
    if (!campaign.content) {
      throw new CampaignError(`campaign ${campaignId} has no content: set a subject and html or text first`, 'no-content');
    }
    const workflowId = sendWorkflowId(campaignId);
    if (campaign.status !== 'draft') {
      // Also covers sends whose workflow has aged out of Temporal's retention.
      throw new CampaignError(
        `campaign ${campaignId} has already been sent or is sending (status ${campaign.status}, ${workflowId})`,
        'already-started',
      );
    }
    try {
      const handle = await this.temporal().workflow.start<typeof campaignSend>(CAMPAIGN_SEND_WORKFLOW, {
        workflowId,
        taskQueue: this.deps.taskQueue,
        args: [{ campaignId, options: tuning }],
        // A campaign is sent once: a second start must not reuse the id even after the first run closed.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: CampaignIdAttr, value: campaignId },
          { key: CampaignTypeAttr, value: campaign.type },
          { key: CampaignStatusAttr, value: 'sending' },
        ],
        staticSummary: `Send ${campaign.type} campaign ${campaignId}: ${campaign.name}`,
      });
      return { workflowId, runId: handle.firstExecutionRunId };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        throw new CampaignError(`campaign ${campaignId} has already been sent or is sending (${workflowId})`, 'already-started');
      }
      throw error;
    }
  }

  progress(campaignId: string): Promise<SendProgress> {
    return this.steer(campaignId, (handle) => handle.query(progressQuery));
  }

  pause(campaignId: string): Promise<SendProgress> {
    return this.steer(campaignId, (handle) => handle.executeUpdate(pauseUpdate));
  }

  resume(campaignId: string): Promise<SendProgress> {
    return this.steer(campaignId, (handle) => handle.executeUpdate(resumeUpdate));
  }

  cancel(campaignId: string): Promise<SendProgress> {
    return this.steer(campaignId, (handle) => handle.executeUpdate(cancelUpdate));
  }

  /**
   * Settles a batch whose outcome Mailgun's logs could not prove (progress.unknownBatches):
   * `accepted` if Mailgun did take it (check its logs or the recipients), `resend` if it did not.
   */
  resolveBatch(campaignId: string, batchNo: number, as: BatchResolution): Promise<SendProgress> {
    const request = parseInput(resolveBatchSchema, { batchNo, as }, 'resolve');
    return this.steer(campaignId, (handle) => handle.executeUpdate(resolveBatchUpdate, { args: [request] }));
  }

  /** Waits for the send to finish and returns its result. */
  result(campaignId: string) {
    return this.steer(campaignId, (handle) => handle.result());
  }

  private temporal(): Client {
    if (!this.deps.temporal) throw new Error('CampaignClient was created without a Temporal client');
    return this.deps.temporal;
  }

  private async requireCampaign(campaignId: string): Promise<Campaign> {
    if (!isCampaignId(campaignId)) {
      throw new InvalidInputError([`campaignId: must be a positive integer, got ${JSON.stringify(campaignId)}`]);
    }
    const campaign = await findCampaign(this.deps.pool, campaignId);
    if (!campaign) throw new CampaignError(`campaign ${campaignId} does not exist`, 'not-found');
    return campaign;
  }

  private async steer<T>(
    campaignId: string,
    action: (handle: WorkflowHandle<typeof campaignSend>) => Promise<T>,
  ): Promise<T> {
    await this.requireCampaign(campaignId);
    const handle = this.temporal().workflow.getHandle<typeof campaignSend>(sendWorkflowId(campaignId));
    try {
      return await action(handle);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        throw new CampaignError(`campaign ${campaignId} has no send yet: start it with 'send ${campaignId}'`, 'not-started');
      }
      if (error instanceof WorkflowUpdateFailedError) {
        // The workflow's validator refused the request; its message names the field and the problem.
        throw new CampaignError(`campaign ${campaignId}: ${error.cause?.message ?? error.message}`, 'rejected');
      }
      throw error;
    }
  }
}
