import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { sendWorkflowId, type SendOptions } from '../common/campaign.js';
import { DEFAULT_TEMPORARY_AFTER_MS, retryWorkflowId, type RetryRequest } from '../common/retries.js';
import { CampaignIdAttr, CampaignStatusAttr, CampaignTypeAttr } from '../common/search-attributes.js';
import type { Campaign } from '../db/campaigns.js';
import type { Pool } from '../db/pool.js';
import { checkRoundMayStart, previewRetry, RetryRefused, retryRounds, type RetryCandidates, type RetryRound } from '../db/retries.js';
import type { campaignSend } from '../workflows/campaign-send.js';
import { CAMPAIGN_SEND_WORKFLOW } from '../workflows/campaign-send-api.js';
import { CampaignError } from './errors.js';
import { parseInput, retryFailedSchema, type RetryFailedInput } from './validation.js';

/** What a retry request found, and (unless a dry run) started. */
export interface RetryStarted extends RetryCandidates {
  campaignId: string;
  round: number;
  /** The round's send workflow; absent for a dry run. */
  workflowId?: string;
  /** A dry run: nothing was started. */
  dryRun: boolean;
}

export interface RetryDeps {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  /** The send tuning a campaign sent without its own gets. */
  sendDefaults: SendOptions;
}

/**
 * Starts the campaign's next retry round (README, "Retrying failed recipients"), or with `dryRun`
 * only counts who it would send to. Refused, with nothing started, while anything of the campaign
 * is still sending, and when nobody would be retried.
 */
export async function startRetry(deps: RetryDeps, campaign: Campaign, input: RetryFailedInput, requestedBy: string): Promise<RetryStarted> {
  const request = parseInput(retryFailedSchema, input, 'retry');
  const campaignId = campaign.id;
  if (!campaign.frozenAudience || !campaign.frozenContent) {
    throw new CampaignError(`campaign ${campaignId} was never approved: there is nothing to retry`, 'wrong-phase');
  }
  const rounds = await retryRounds(deps.pool, campaignId);
  await refuseAfterCutOffSends(deps, campaignId, rounds);
  const round = (rounds.at(-1)?.round ?? 0) + 1;
  try {
    checkRoundMayStart(campaignId, campaign.status, rounds, round);
  } catch (error) {
    if (error instanceof RetryRefused) throw new CampaignError(error.message, 'wrong-phase');
    throw error;
  }
  const temporaryAfterMs = request.temporaryAfterMinutes === undefined ? DEFAULT_TEMPORARY_AFTER_MS : request.temporaryAfterMinutes * 60_000;
  const filter = { temporaryAfterMs, ...(request.reasonLike === undefined ? {} : { reasonLike: request.reasonLike }) };
  const candidates = await previewRetry(deps.pool, campaignId, campaign.type, campaign.frozenAudience, filter);
  const found = { campaignId, round, ...candidates };
  if (request.dryRun) return { ...found, dryRun: true };
  if (candidates.unsent + candidates.resent === 0) {
    const matching = request.reasonLike === undefined ? '' : ` whose reason contains ${JSON.stringify(request.reasonLike)}`;
    const doubt = candidates.inDoubt > 0 ? ` (${candidates.inDoubt} in parts of unknown outcome are never retried)` : '';
    throw new CampaignError(`campaign ${campaignId} has no failed recipient to retry${matching}${doubt}`, 'wrong-phase');
  }
  const retry: RetryRequest = { campaignId, round, requestedBy, ...filter };
  const workflowId = retryWorkflowId(campaignId, round);
  try {
    await deps.temporal.workflow.start<typeof campaignSend>(CAMPAIGN_SEND_WORKFLOW, {
      workflowId,
      taskQueue: deps.taskQueue,
      args: [{ campaignId, options: { ...(campaign.sendOptions ?? deps.sendDefaults), ...request.send }, retry }],
      // A round whose workflow failed before it froze anyone may be asked for again; any other is there to stay.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      typedSearchAttributes: [
        { key: CampaignIdAttr, value: campaignId },
        { key: CampaignTypeAttr, value: campaign.type },
        { key: CampaignStatusAttr, value: 'sending' },
      ],
      staticSummary: `Retry round ${round} of ${campaign.type} campaign ${campaignId}: ${candidates.unsent + candidates.resent} recipients`,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CampaignError(`retry round ${round} of campaign ${campaignId} is already being started`, 'conflict');
    }
    throw error;
  }
  return { ...found, workflowId, dryRun: false };
}

/** How a workflow can end with activities it started still running: nobody waited for them to land. */
const CUT_OFF = new Set(['TERMINATED', 'TIMED_OUT']);

/**
 * Refuses a round while an earlier send of the campaign (its own, or a round) was cut off — terminated
 * from the Temporal UI or CLI, or timed out — rather than ended by itself. A send that ends by itself
 * waits for its batches to land; one cut off leaves its sendBatch activities running until their next
 * heartbeat finds it gone, and one of those may still claim a pending part and send it after a new
 * round has frozen the same people. Never guess: such a campaign is not retried.
 */
async function refuseAfterCutOffSends(deps: RetryDeps, campaignId: string, rounds: readonly RetryRound[]): Promise<void> {
  const workflowIds = [sendWorkflowId(campaignId), ...rounds.map((r) => retryWorkflowId(campaignId, r.round))];
  for (const workflowId of workflowIds) {
    const status = await deps.temporal.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        (description) => description.status.name as string,
        (error: unknown) => {
          if (error instanceof WorkflowNotFoundError) return undefined; // never started, or long gone with its activities
          throw error;
        },
      );
    if (status !== undefined && CUT_OFF.has(status)) {
      throw new CampaignError(
        `campaign ${campaignId}: its send ${workflowId} was ${status.toLowerCase().replace('_', ' ')} instead of ending by itself, so batches ` +
          'it had started may still go out; no retry round can start safely (README, "Retrying failed recipients")',
        'wrong-phase',
      );
    }
  }
}
