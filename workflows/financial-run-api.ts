/**
 * The monthly financial run's public face: what the Temporal Schedule starts,
 * the per-period run it leads to, and their results.
 */
import type { MissingReportsPolicy, ReportPeriod, SigningFailurePolicy } from '../common/financial.js';
import type { LifecycleOptions } from '../common/lifecycle.js';

/** Started by the Schedule (and its trigger and backfill): works out the period and starts its run. */
export const FINANCIAL_SCHEDULED_WORKFLOW = 'financialScheduled';
/** One per period, `financial-YYYY-MM`: the period's campaign, from links to archive. */
export const FINANCIAL_RUN_WORKFLOW = 'financialRun';

export interface FinancialRunOptions {
  lifecycle: LifecycleOptions;
  missingReports: MissingReportsPolicy;
  signingFailure: SigningFailurePolicy;
}

export interface FinancialScheduledInput {
  /** IANA time zone whose calendar decides which month has just closed. */
  timeZone: string;
  run: FinancialRunOptions;
}

export interface FinancialScheduledResult {
  period: string;
  /** The period's run workflow. */
  workflowId: string;
  /** False when the period already had its run: nothing was started, and `reason` says why. */
  started: boolean;
  reason?: string;
}

export interface FinancialRunInput {
  period: ReportPeriod;
  options: FinancialRunOptions;
}

export interface FinancialRunResult {
  period: string;
  campaignId: string;
  status: 'archived' | 'cancelled' | 'already-ran';
  customers: number;
  linksSigned: number;
  filesMissing: number;
  /** False when the signing key could not be loaded and the run was configured to send without links. */
  linksIncluded: boolean;
}
