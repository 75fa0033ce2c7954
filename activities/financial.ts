import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { S3Client } from '@aws-sdk/client-s3';
import { SCHEDULE_ACTOR, type AudienceFilter } from '../common/campaign.js';
import {
  financialContent,
  financialRunWorkflowId,
  periodLabel,
  periodName,
  type MissingReportsPolicy,
  type ReportPeriod,
  type SigningFailurePolicy,
} from '../common/financial.js';
import type { DraftFacts } from '../common/lifecycle.js';
import { draftFacts, FINANCIAL_RUN_SCOPE, findCampaign, insertCampaign } from '../db/campaigns.js';
import { countReportCustomers, recordReportCounts, reportCustomers, saveReportLinks, type ReportLink } from '../db/reports.js';
import type { UrlSigner } from './cloudfront.js';
import { appendAudit } from '../db/audit.js';
import { requireCampaign } from './campaigns.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';
import { listMonthReports, REPORT_KINDS, reportFilename, reportKey, type ReportKind } from './report-files.js';

/** Where the monthly reports are and how links to them are signed. */
export interface ReportsDeps {
  s3: S3Client;
  bucket: string;
  /** The CloudFront signer, its key loaded once per worker (and again after a failed load). */
  signer(): Promise<UrlSigner>;
}

export interface CreateFinancialCampaignInput {
  period: ReportPeriod;
  missingReports: MissingReportsPolicy;
}

export interface FinancialCampaign {
  campaignId: string;
  facts: DraftFacts;
  /** The period's campaign existed already and is past its draft: it must not be run again. */
  alreadyRan: boolean;
}

export interface PrepareReportLinksInput {
  campaignId: string;
  period: ReportPeriod;
  signingFailure: SigningFailurePolicy;
}

export interface ReportLinksSummary {
  customers: number;
  linksSigned: number;
  filesMissing: number;
  /** False when the signing key could not be loaded and the run sends the standard email instead. */
  linksIncluded: boolean;
}

/** Customers signed for per page: bounded, so memory stays flat however many there are. */
const CUSTOMERS_PER_PAGE = 2_000;
/** Attempts at loading the signing key before a run gives up on it (or falls back to no links). */
const KEY_LOAD_ATTEMPTS = 3;
/** Secrets Manager answers that retrying will not change. */
const DEFINITIVE_KEY_ERRORS = ['ResourceNotFoundException', 'AccessDeniedException', 'InvalidParameterException', 'DecryptionFailure'];

export function createFinancialActivities({ pool, reports, metrics }: ActivityDeps) {
  /** The signer, or why there is none; a failure that retrying may fix is thrown for Temporal to retry. */
  async function loadSigner(campaignId: string, signingFailure: SigningFailurePolicy): Promise<UrlSigner | undefined> {
    try {
      return await reports.signer();
    } catch (error) {
      const definitive = error instanceof Error && (DEFINITIVE_KEY_ERRORS.includes(error.name) || /signing (key|secret)/i.test(error.message));
      const attempt = Context.current().info.attempt;
      if (!definitive && attempt < KEY_LOAD_ATTEMPTS) throw error;
      const reason = `the CloudFront signing key could not be loaded: ${error instanceof Error ? error.message : String(error)}`;
      if (signingFailure === 'send-without-links') {
        log.error(`financial campaign ${campaignId} continues without links: ${reason}`);
        return undefined;
      }
      throw ApplicationFailure.nonRetryable(
        `ALERT: financial campaign ${campaignId} stopped before sending anything: ${reason}`,
        'SigningKeyUnavailable',
      );
    }
  }

  return {
    /**
     * The period's financial campaign: its customers (active, with a report id,
     * accepting financial email; with `skip`, only those with report files),
     * the statement email, the period. One per period: a second call, or a run
     * of a month that already ran, finds the first (idempotency key
     * `financial-YYYY-MM`).
     */
    async createFinancialCampaign({ period, missingReports }: CreateFinancialCampaignInput): Promise<FinancialCampaign> {
      const audience: AudienceFilter = {
        emailType: 'financial',
        hasReportId: true,
        ...(missingReports === 'skip' ? { requireReportLinks: true } : {}),
      };
      const { id, created } = await insertCampaign(pool, {
        name: `Financial statements ${periodName(period)}`,
        type: 'financial',
        content: financialContent(period, { withLinks: true }),
        audience,
        reportYear: period.year,
        reportMonth: period.month,
        // In the pipeline's own scope: no caller can take a month's key.
        idempotency: { scope: FINANCIAL_RUN_SCOPE, key: financialRunWorkflowId(period), requestHash: null },
      });
      if (created) await appendAudit(pool, { actor: SCHEDULE_ACTOR, action: 'create', campaignId: id, details: { type: 'financial', period: periodName(period) } });
      const campaign = await findCampaign(pool, id);
      if (!campaign) throw new Error(`campaign ${id} vanished`);
      return { campaignId: id, facts: draftFacts(campaign), alreadyRan: !created && campaign.approvedAt !== null };
    },

    /**
     * Signs a link for each report file each customer has this month and stores
     * them, a page of customers at a time (the audience frozen at approval, if
     * the campaign is approved already). Which files exist comes from listing
     * the month's two S3 prefixes once (a few dozen calls for 10,000 customers,
     * where one HeadObject per file would be 20,000). A retry resumes after the
     * last page it stored.
     */
    async prepareReportLinks({ campaignId, period, signingFailure }: PrepareReportLinksInput): Promise<ReportLinksSummary> {
      const campaign = await requireCampaign(pool, campaignId);
      const audience = campaign.frozenAudience ?? campaign.audience;
      const customers = await countReportCustomers(pool, campaignId, audience);
      const signer = await loadSigner(campaignId, signingFailure);
      if (!signer) return { customers, linksSigned: 0, filesMissing: customers * 2, linksIncluded: false };

      const context = Context.current();
      const files = await withHeartbeat(listMonthReports(reports.s3, reports.bucket, period.year, period.month));
      const now = new Date();
      let after = (context.info.heartbeatDetails as { after?: string } | undefined)?.after ?? '0';
      for (;;) {
        const page = await reportCustomers(pool, campaignId, audience, after, CUSTOMERS_PER_PAGE);
        const last = page.at(-1);
        if (!last) break;
        const links: ReportLink[] = page.flatMap(({ userId, customId }) =>
          [...(files.get(customId) ?? [])].map((kind: ReportKind) => {
            const { url, expiresAt } = signer.sign(reportKey(kind, period.year, period.month, customId), now);
            return { userId, kind, filename: reportFilename(customId), label: REPORT_KINDS[kind].label, url, expiresAt };
          }),
        );
        await saveReportLinks(pool, campaignId, links);
        metrics.linksSigned.inc(links.length);
        after = last.userId;
        context.heartbeat({ after });
      }
      const counts = await recordReportCounts(pool, campaignId, customers);
      log.info(`financial run ${periodLabel(period)}: ${counts.links} links signed, ${counts.filesMissing} files missing`);
      return { customers: counts.customers, linksSigned: counts.links, filesMissing: counts.filesMissing, linksIncluded: true };
    },
  };
}
