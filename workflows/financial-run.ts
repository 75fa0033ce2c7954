import {
  log,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { lifecycleWorkflowId, SCHEDULE_ACTOR } from '../common/campaign.js';
import { financialContent, financialRunWorkflowId, periodLabel, previousMonth } from '../common/financial.js';
import { CampaignIdAttr, CampaignMonthAttr, CampaignStatusAttr, CampaignTypeAttr } from '../common/search-attributes.js';
import { campaignLifecycle } from './campaign-lifecycle.js';
import { prepareReportLinks } from './report-links.js';
import type {
  FinancialRunInput,
  FinancialRunResult,
  FinancialScheduledInput,
  FinancialScheduledResult,
} from './financial-run-api.js';

// ---------------------------------------------------------------- activities

const { createFinancialCampaign, saveConfig } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});

/** Set by a Temporal Schedule on each workflow it starts: the time the action was scheduled for. */
const ScheduledStartTimeAttr = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

// ---------------------------------------------------------------- the workflows

/**
 * What the monthly Schedule starts (also by trigger and backfill). It works out
 * the period from the time the action was scheduled for — the month before, in
 * the configured time zone; never the wall clock, so a backfill or a late run
 * reports on the right month — and starts that period's run, `financial-YYYY-MM`,
 * which refuses to run twice: a month that already ran starts nothing.
 */
export async function financialScheduled(input: FinancialScheduledInput): Promise<FinancialScheduledResult> {
  const info = workflowInfo();
  const scheduledAt = info.typedSearchAttributes.get(ScheduledStartTimeAttr) ?? info.runStartTime;
  const period = previousMonth(scheduledAt, input.timeZone);
  const workflowId = financialRunWorkflowId(period);
  try {
    await startChild(financialRun, {
      workflowId,
      args: [{ period, options: input.run }],
      // One run per month, ever: a second start of the same id is refused even after the first closed.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      // The run outlives this workflow (it tracks for days); this one only starts it.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: CampaignTypeAttr, value: 'financial' },
        { key: CampaignMonthAttr, value: periodLabel(period) },
      ],
      staticSummary: `Financial run for ${periodLabel(period)}`,
    });
    return { period: periodLabel(period), workflowId, started: true };
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const reason = `the financial run for ${periodLabel(period)} already ran (${workflowId}): nothing was started`;
    log.info(reason);
    return { period: periodLabel(period), workflowId, started: false, reason };
  }
}

/**
 * One period's financial run: the campaign (one per period), a signed link
 * for each customer's report files, then the campaign's lifecycle, approved at
 * once, which sends each customer their own links through the exactly-once
 * send. Without a signing key it either stops before sending anything, or (if
 * configured) sends the standard email without links.
 */
export async function financialRun({ period, options }: FinancialRunInput): Promise<FinancialRunResult> {
  const label = periodLabel(period);
  setCurrentDetails(`Financial run for **${label}**: creating the campaign`);
  const campaign = await createFinancialCampaign({ period, missingReports: options.missingReports });
  const { campaignId } = campaign;
  upsertSearchAttributes([{ key: CampaignIdAttr, value: campaignId }]);
  const nothing = { period: label, campaignId, customers: 0, linksSigned: 0, filesMissing: 0, linksIncluded: false };
  if (campaign.alreadyRan) {
    log.info(`the financial campaign for ${label} (${campaignId}) was already approved: not run again`);
    return { ...nothing, status: 'already-ran' };
  }

  setCurrentDetails(`Financial run for **${label}**: signing report links (campaign ${campaignId})`);
  const links = await prepareReportLinks.executeWithOptions({ summary: `List ${label} report files in S3 and sign their links` }, [
    { campaignId, period, signingFailure: options.signingFailure },
  ]);
  let facts = campaign.facts;
  if (!links.linksIncluded) {
    facts = await saveConfig({
      campaignId,
      expectedVersion: facts.configVersion,
      editId: `${label}-without-links`,
      changes: financialContent(period, { withLinks: false }),
    });
  }

  setCurrentDetails(
    `Financial run for **${label}**: sending (campaign ${campaignId}); ${links.linksSigned} links signed, ${links.filesMissing} files missing`,
  );
  const lifecycle = await startChild(campaignLifecycle, {
    workflowId: lifecycleWorkflowId(campaignId),
    args: [{ campaignId, options: options.lifecycle, facts, autoApprove: {}, actor: SCHEDULE_ACTOR }],
    typedSearchAttributes: [
      { key: CampaignIdAttr, value: campaignId },
      { key: CampaignTypeAttr, value: 'financial' },
      { key: CampaignStatusAttr, value: 'approved' },
      { key: CampaignMonthAttr, value: label },
    ],
    staticSummary: `financial campaign ${campaignId}: ${facts.name}`,
  });
  const result = await lifecycle.result();
  setCurrentDetails(`Financial run for **${label}**: ${result.status} (campaign ${campaignId})`);
  return {
    period: label,
    campaignId,
    status: result.status,
    customers: links.customers,
    linksSigned: links.linksSigned,
    filesMissing: links.filesMissing,
    linksIncluded: links.linksIncluded,
  };
}
