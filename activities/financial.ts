import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { S3Client } from '@aws-sdk/client-s3';
import { SCHEDULE_ACTOR, type AudienceFilter } from '../common/campaign.js';
import {
  financialContent,
  financialRunWorkflowId,
  periodLabel,
  periodName,
  REPORT_LINK_KINDS,
  type MissingReportsPolicy,
  type ReportPeriod,
  type SigningFailurePolicy,
} from '../common/financial.js';
import type { DraftFacts } from '../common/lifecycle.js';
import { draftFacts, FINANCIAL_RUN_SCOPE, findCampaign, insertCampaign } from '../db/campaigns.js';
import { ListingProgress } from '../common/listing-progress.js';
import {
  countReportCustomers,
  FIRST_REPORT_CUSTOMER,
  recordReportCounts,
  reportCustomers,
  saveReportLinks,
  type ReportCustomer,
  type ReportLink,
} from '../db/reports.js';
import type { PatternSignature, UrlSigner } from './cloudfront.js';
import { appendAudit } from '../db/audit.js';
import { requireCampaign } from './campaigns.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';
import { customerMonthPattern, listMonthReports, monthPrefix, REPORT_KINDS, reportFilename, reportKey, type ReportKind } from './report-files.js';

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
/** Pages signed ahead while the listing runs or the store catches up: bounds what a run holds in memory. */
const PAGES_SIGNED_AHEAD = 3;
/** Attempts at loading the signing key before a run gives up on it (or falls back to no links). */
const KEY_LOAD_ATTEMPTS = 3;
/** Secrets Manager answers that retrying will not change. */
const DEFINITIVE_KEY_ERRORS = ['ResourceNotFoundException', 'AccessDeniedException', 'InvalidParameterException', 'DecryptionFailure'];

const NO_FILES: ReadonlySet<ReportKind> = new Set();

/**
 * The month's two prefixes being listed (listMonthReports), and what that has
 * found so far: whether the listing has passed a customer's keys yet, and
 * waiting until it has passed a page's. Its failure rejects `finished` and
 * every wait.
 */
class MonthListing {
  readonly finished: Promise<void>;
  private found: ReadonlyMap<string, ReadonlySet<ReportKind>> = new Map();
  private readonly progress = new ListingProgress<ReportKind>(REPORT_LINK_KINDS);
  private wake: Array<() => void> = [];

  constructor(
    s3: S3Client,
    bucket: string,
    private readonly period: ReportPeriod,
  ) {
    this.finished = withHeartbeat(
      listMonthReports(s3, bucket, period.year, period.month, {
        onPage: ({ kind, lastKey, last, found }) => {
          this.found = found;
          this.progress.passed(kind, lastKey, last);
          for (const wake of this.wake.splice(0)) wake();
        },
      }),
    ).then(() => undefined);
    this.finished.catch(() => undefined);
  }

  /** Whether the listing has passed every key this customer's reports could have. */
  knows(customId: string): boolean {
    const { year, month } = this.period;
    return this.progress.covers((kind) => `${monthPrefix(kind, year, month)}${customId}/${reportFilename(customId)}`);
  }

  /** The customer's report kinds found so far: all of them once knows(customId). */
  kindsOf(customId: string): ReadonlySet<ReportKind> {
    return this.found.get(customId) ?? NO_FILES;
  }

  /** Resolves once the listing knows every one of these customers' reports. */
  async past(customers: readonly ReportCustomer[]): Promise<void> {
    while (!customers.every((customer) => this.knows(customer.customId))) {
      await Promise.race([this.finished, new Promise<void>((wake) => this.wake.push(wake))]);
    }
  }
}

/** Where a retry resumes: after the last customer its attempt stored (a heartbeat of another shape: from the start). */
function resumePoint(details: unknown): ReportCustomer {
  const after = (details as { after?: unknown } | undefined)?.after as Partial<ReportCustomer> | undefined;
  return typeof after?.customId === 'string' && typeof after.userId === 'string' ? { customId: after.customId, userId: after.userId } : FIRST_REPORT_CUSTOMER;
}

/** A customer, with the signed policy covering their month's reports if they have one yet. */
interface SignedCustomer extends ReportCustomer {
  month?: PatternSignature;
}

/**
 * One signature covers a customer's month (customerMonthPattern). Before the
 * listing has passed a customer's files, they get one, whichever files they
 * turn out to have; after, only a customer with both reports does, as one
 * file is better served by a canned link (a shorter URL, the same one
 * signature). An id with a `*` would widen the policy: canned links then.
 */
async function signMonth(
  signer: UrlSigner,
  customer: ReportCustomer,
  listing: MonthListing,
  { year, month }: ReportPeriod,
  now: Date,
): Promise<SignedCustomer> {
  const worth = !listing.knows(customer.customId) || listing.kindsOf(customer.customId).size > 1;
  if (!worth || customer.customId.includes('*')) return customer;
  return { ...customer, month: await signer.signPattern(customerMonthPattern(year, month, customer.customId), now) };
}

/** A link for each report file the customer has this month, in REPORT_LINK_KINDS order. */
async function customerLinks(
  signer: UrlSigner,
  { userId, customId, month: signature }: SignedCustomer,
  present: ReadonlySet<ReportKind> | undefined,
  { year, month }: ReportPeriod,
  now: Date,
): Promise<ReportLink[]> {
  const kinds = REPORT_LINK_KINDS.filter((kind) => present?.has(kind));
  return Promise.all(
    kinds.map(async (kind) => {
      const key = reportKey(kind, year, month, customId);
      const { url, expiresAt } = signature ? signature.urlFor(key) : await signer.sign(key, now);
      return { userId, kind, filename: reportFilename(customId), label: REPORT_KINDS[kind].label, url, expiresAt };
    }),
  );
}

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
     * the month's two S3 prefixes once, side by side (a few dozen calls for
     * 10,000 customers, where one HeadObject per file would be 20,000). The
     * customers come in report id order, the order S3 lists in: the signing
     * does not wait for the listing (signMonth), and a page is stored as soon
     * as both listings have passed its customers. A retry resumes after the
     * last page it stored (and lists the month again).
     */
    async prepareReportLinks({ campaignId, period, signingFailure }: PrepareReportLinksInput): Promise<ReportLinksSummary> {
      const campaign = await requireCampaign(pool, campaignId);
      const audience = campaign.frozenAudience ?? campaign.audience;
      const customers = await countReportCustomers(pool, campaignId, audience);
      const signer = await loadSigner(campaignId, signingFailure);
      if (!signer) return { customers, linksSigned: 0, filesMissing: customers * 2, linksIncluded: false };

      const context = Context.current();
      const now = new Date();
      // Listing the month's files and signing overlap: a customer's month policy covers whichever files exist, and
      // a page is stored once both listings have passed its customers' keys.
      const listing = new MonthListing(reports.s3, reports.bucket, period);
      let after = resumePoint(context.info.heartbeatDetails);
      // Pages are stored in order; the heartbeat moves past a page once it is stored.
      let stored: Promise<void> = Promise.resolve();
      const unstored: Array<Promise<void>> = [];
      for (;;) {
        const { customers: page, next } = await reportCustomers(pool, campaignId, audience, after, CUSTOMERS_PER_PAGE);
        if (!next) break;
        after = next;
        const signed = await Promise.all(page.map((customer) => signMonth(signer, customer, listing, period, now)));
        stored = stored.then(async () => {
          await listing.past(page);
          const links = (await Promise.all(signed.map((customer) => customerLinks(signer, customer, listing.kindsOf(customer.customId), period, now)))).flat();
          await saveReportLinks(pool, campaignId, links);
          metrics.linksSigned.inc(links.length);
          context.heartbeat({ after: next });
        });
        // Seen when awaited below: never an unhandled rejection in between.
        stored.catch(() => undefined);
        unstored.push(stored);
        if (unstored.length > PAGES_SIGNED_AHEAD) await unstored.shift();
      }
      // The listing is awaited even when no page needed it: its failure is the activity's.
      await Promise.all([stored, listing.finished]);
      const counts = await recordReportCounts(pool, campaignId, customers);
      log.info(`financial run ${periodLabel(period)}: ${counts.links} links signed, ${counts.filesMissing} files missing`);
      return { customers: counts.customers, linksSigned: counts.links, filesMissing: counts.filesMissing, linksIncluded: true };
    },
  };
}
