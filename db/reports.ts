import type { Pool } from 'pg';
import type { AudienceFilter } from '../common/campaign.js';
import type { ReportLinkKind } from '../common/financial.js';
import { audienceParams } from './audience.js';
import { sql } from './queries.js';

/** A financial run's report links: the customers it signs for, the links, the counts. */

export interface ReportCustomer {
  userId: string;
  customId: string;
}

/** Before every customer in report id order: where a run's first page starts. */
export const FIRST_REPORT_CUSTOMER: ReportCustomer = { customId: '', userId: '0' };

export interface ReportCustomerPage {
  /** The audience's customers on this page: fewer than the limit where others with a report id are not in it. */
  customers: ReportCustomer[];
  /** Where the next page starts; undefined: this page read nobody, the run has been through everyone. */
  next: ReportCustomer | undefined;
}

/**
 * The next `limit` people with a report id after `after`, in report id order (bytewise, as S3 lists), and which
 * of them the campaign's audience includes.
 */
export async function reportCustomers(
  pool: Pool,
  campaignId: string,
  audience: AudienceFilter,
  after: ReportCustomer,
  limit: number,
): Promise<ReportCustomerPage> {
  const result = await pool.query<ReportCustomer & { included: boolean }>(sql.selectReportCustomers, [
    ...audienceParams('financial', { ...audience, requireReportLinks: false }, campaignId),
    after.customId,
    after.userId,
    limit,
  ]);
  const last = result.rows.at(-1);
  return {
    customers: result.rows.filter((row) => row.included).map(({ userId, customId }) => ({ userId, customId })),
    next: last && { userId: last.userId, customId: last.customId },
  };
}

export async function countReportCustomers(pool: Pool, campaignId: string, audience: AudienceFilter): Promise<number> {
  const result = await pool.query<{ n: number }>(sql.countReportCustomers, audienceParams('financial', { ...audience, requireReportLinks: false }, campaignId));
  return result.rows[0]?.n ?? 0;
}

export interface ReportLink {
  userId: string;
  kind: ReportLinkKind;
  filename: string;
  label: string;
  url: string;
  expiresAt: Date;
}

export async function saveReportLinks(pool: Pool, campaignId: string, links: ReportLink[]): Promise<void> {
  if (links.length === 0) return;
  await pool.query(sql.upsertReportLinks, [
    campaignId,
    links.map((l) => l.userId),
    links.map((l) => l.kind),
    links.map((l) => l.filename),
    links.map((l) => l.label),
    links.map((l) => l.url),
    links.map((l) => l.expiresAt),
  ]);
}

export interface ReportCounts {
  customers: number;
  links: number;
  filesMissing: number;
}

/** Records what the run found, counted from the links themselves (a retry counts the same). */
export async function recordReportCounts(pool: Pool, campaignId: string, customers: number): Promise<ReportCounts> {
  const result = await pool.query<ReportCounts>(sql.upsertReportStats, [campaignId, customers]);
  return result.rows[0] ?? { customers, links: 0, filesMissing: customers * 2 };
}

export type BatchLink = Omit<ReportLink, 'expiresAt'>;

/** The links of a batch's recipients, by user id. */
export async function linksOf(pool: Pool, campaignId: string, userIds: string[]): Promise<Map<string, BatchLink[]>> {
  const result = await pool.query<BatchLink>(sql.selectBatchLinks, [campaignId, userIds]);
  const byUser = new Map<string, BatchLink[]>();
  for (const link of result.rows) byUser.set(link.userId, [...(byUser.get(link.userId) ?? []), link]);
  return byUser;
}
