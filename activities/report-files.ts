import { HeadObjectCommand, ListObjectsV2Command, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { REPORT_LINK_KINDS, type ReportLinkKind } from '../common/financial.js';

/**
 * Where a customer's monthly reports live in S3, and which of them exist:
 * `Exports/{yyyy}/{mm}/{customId}/{customId}.zip` (YouTube) and
 * `Distro/{yyyy}/{mm}/{customId}/{customId}.zip` (streaming).
 *
 * The old Lambda asked HeadObject once per file (20,000 round trips for 10,000
 * customers); listing the month's two prefixes answers the same question in a
 * few dozen calls, so a financial run lists once and looks ids up in memory.
 */

export type ReportKind = ReportLinkKind;

export const REPORT_KINDS: Readonly<Record<ReportKind, { prefix: string; label: string }>> = {
  youtube: { prefix: 'Exports', label: 'YouTube Report' },
  streaming: { prefix: 'Distro', label: 'Streaming Report' },
};

/** ListObjectsV2 returns at most 1000 keys a page, whatever MaxKeys asks. */
const MAX_PAGE_SIZE = 1000;

/** `Exports/2025/08/`: every report of one kind for one month is under it. */
export function monthPrefix(kind: ReportKind, year: number, month: number): string {
  if (!Number.isInteger(year) || year < 1 || year > 9999) throw new RangeError(`report year must be an integer 1-9999, got ${year}`);
  if (!Number.isInteger(month) || month < 1 || month > 12) throw new RangeError(`report month must be an integer 1-12, got ${month}`);
  return `${REPORT_KINDS[kind].prefix}/${String(year).padStart(4, '0')}/${String(month).padStart(2, '0')}/`;
}

/** `{customId}.zip`: the name the customer's download is saved under. */
export function reportFilename(customId: string): string {
  return `${customId}.zip`;
}

/** The S3 key of one customer's report of one kind for one month. */
export function reportKey(kind: ReportKind, year: number, month: number, customId: string): string {
  if (customId === '' || customId.includes('/')) throw new Error(`report id must be non-empty and contain no "/", got ${JSON.stringify(customId)}`);
  return `${monthPrefix(kind, year, month)}${customId}/${reportFilename(customId)}`;
}

/**
 * The key pattern that covers one customer's reports of every kind for one
 * month and nobody else's: a whole-segment wildcard for the kind's prefix, then
 * `{yyyy}/{mm}/{id}/{id}.zip` (custom ids hold no `/`, so the last two segments
 * are the customer's alone). For a CloudFront custom policy.
 */
export function customerMonthPattern(year: number, month: number, customId: string): string {
  return `*/${reportKey('youtube', year, month, customId).slice(REPORT_KINDS.youtube.prefix.length + 1)}`;
}

/** The customer id if `rest` (a key with the month prefix removed) is exactly `{id}/{id}.zip`. */
function customIdOf(rest: string): string | undefined {
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const id = rest.slice(0, slash);
  return rest.slice(slash + 1) === reportFilename(id) ? id : undefined;
}

/** Reported after every page, so a long listing can heartbeat. */
export interface ListPageProgress {
  kind: ReportKind;
  /** Pages read so far, over both kinds. */
  pages: number;
  /** Keys on this page, report files or not. */
  keys: number;
  /** Customers with at least one report found so far. */
  customers: number;
  /** The page's last key, a report file or not (none on an empty page): the listing of `kind` has passed every key up to it. */
  lastKey: string | undefined;
  /** This was the last page of `kind`. */
  last: boolean;
  /** What has been found so far, the map listMonthReports returns: read it, do not keep a copy. */
  found: ReadonlyMap<string, ReadonlySet<ReportKind>>;
}

export interface ListMonthReportsOptions {
  /** Keys per ListObjectsV2 page, 1-1000 (default 1000, S3's maximum). */
  pageSize?: number;
  onPage?: (progress: ListPageProgress) => void | Promise<void>;
}

/**
 * Which customers have which reports for a month: custom id → kinds present.
 * Only keys of the exact form `{prefix}/{yyyy}/{mm}/{id}/{id}.zip` count;
 * anything else under the month's prefixes is ignored. The map holds ids and
 * kinds only, never S3 listing entries, so 100,000 customers stay small.
 * S3 errors propagate unchanged, for the caller's retry policy.
 */
export async function listMonthReports(
  s3: S3Client,
  bucket: string,
  year: number,
  month: number,
  { pageSize = MAX_PAGE_SIZE, onPage }: ListMonthReportsOptions = {},
): Promise<Map<string, Set<ReportKind>>> {
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new RangeError(`pageSize must be an integer 1-${MAX_PAGE_SIZE}, got ${pageSize}`);
  }
  const found = new Map<string, Set<ReportKind>>();
  let pages = 0;
  const onPageOfKind = async (kind: ReportKind, keys: number, lastKey: string | undefined, last: boolean) => {
    pages += 1;
    await onPage?.({ kind, pages, keys, customers: found.size, lastKey, last, found });
  };
  // The two kinds' prefixes are listed side by side: each listing is a chain of pages, the two are independent.
  await Promise.all(REPORT_LINK_KINDS.map((kind) => listPrefix(s3, bucket, kind, monthPrefix(kind, year, month), pageSize, found, onPageOfKind)));
  return found;
}

/** One kind's month, page after page, into `found`: custom id → kinds present. */
async function listPrefix(
  s3: S3Client,
  bucket: string,
  kind: ReportKind,
  prefix: string,
  pageSize: number,
  found: Map<string, Set<ReportKind>>,
  onPage: (kind: ReportKind, keys: number, lastKey: string | undefined, last: boolean) => Promise<void>,
): Promise<void> {
  let continuationToken: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: pageSize, ContinuationToken: continuationToken }));
    const contents = page.Contents ?? [];
    for (const { Key: key } of contents) {
      if (key === undefined || !key.startsWith(prefix)) continue;
      const id = customIdOf(key.slice(prefix.length));
      if (id === undefined) continue;
      const kinds = found.get(id);
      if (kinds) kinds.add(kind);
      else found.set(id, new Set([kind]));
    }
    // A truncated page without a token would otherwise restart the listing forever.
    if (page.IsTruncated && !page.NextContinuationToken) {
      throw new Error(`S3 listing of s3://${bucket}/${prefix} is truncated but has no continuation token`);
    }
    await onPage(kind, contents.length, contents.at(-1)?.Key, !page.IsTruncated);
    continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (continuationToken);
}

/**
 * Whether one object exists (HeadObject). Only a 404 means "no"; any other
 * error (403, 5xx, network) is thrown unchanged for the caller's retry policy.
 * Note that HEAD responses carry no error body, so a missing bucket is also a
 * plain 404 here: check the bucket with listMonthReports when that matters.
 */
export async function reportExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if (err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 404 || err.name === 'NotFound')) return false;
    throw err;
  }
}
