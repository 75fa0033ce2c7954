import type { Pool } from 'pg';
import type { BatchPart, BatchPlan } from '../common/batches.js';
import type { BatchStatus, LedgerState } from '../common/ledger.js';
import { sql } from './queries.js';

/** Data access for the send ledger; the state machine itself is common/ledger.ts. */

export interface LedgerRow {
  batch_no: number;
  part: string;
  parent_part: string | null;
  state: LedgerState;
  attempts: number;
  message_count: number | null;
  mailgun_message_id: string | null;
  last_error: string | null;
  rate_limited_ms: number;
  first_ordinal: number;
  last_ordinal: number;
  first_attempt_at: Date | null;
  last_attempt_at: Date | null;
  probe_message_id: string | null;
  probe_sent_at: Date | null;
}

export function partOf(row: LedgerRow): BatchPart {
  return { batchNo: row.batch_no, part: row.part, firstOrdinal: row.first_ordinal, lastOrdinal: row.last_ordinal };
}

type PartKey = Pick<BatchPart, 'batchNo' | 'part'>;
const key = (campaignId: string, part: PartKey) => [campaignId, part.batchNo, part.part];

export async function ensurePart(pool: Pool, campaignId: string, part: BatchPart, parent: string | null = null): Promise<LedgerRow> {
  const result = await pool.query<LedgerRow>(sql.ensureLedgerPart, [
    ...key(campaignId, part),
    parent,
    part.firstOrdinal,
    part.lastOrdinal,
  ]);
  const row = result.rows[0];
  if (!row) throw new Error(`send_ledger row for campaign ${campaignId} batch ${part.batchNo} was not returned`);
  if (row.first_ordinal !== part.firstOrdinal || row.last_ordinal !== part.lastOrdinal) {
    // A batch number must always mean the same recipients; anything else would resend or skip people.
    throw new Error(
      `send_ledger batch ${part.batchNo} of campaign ${campaignId} covers ${row.first_ordinal}..${row.last_ordinal}, ` +
        `not ${part.firstOrdinal}..${part.lastOrdinal}`,
    );
  }
  return row;
}

/** Every part of a batch, in ordinal order, and the database's clock (all ledger times are the database's). */
export async function batchParts(pool: Pool, campaignId: string, batchNo: number): Promise<{ rows: LedgerRow[]; now: Date }> {
  const result = await pool.query<LedgerRow & { db_now: Date }>(sql.selectBatchParts, [campaignId, batchNo]);
  return { rows: result.rows, now: result.rows[0]?.db_now ?? new Date() };
}

/**
 * Claims the next request to Mailgun for a pending part, provided the row is
 * still as `seen` (read by this attempt). Returns the attempt number, or
 * undefined when another attempt got there first: an attempt Temporal gave up
 * on may still be running, and only one of the two may send.
 */
export async function claim(
  pool: Pool,
  campaignId: string,
  seen: Pick<LedgerRow, 'batch_no' | 'part' | 'attempts'>,
  messageCount: number,
): Promise<number | undefined> {
  const result = await pool.query<{ attempts: number }>(sql.claimLedgerPart, [
    campaignId,
    seen.batch_no,
    seen.part,
    seen.attempts,
    messageCount,
  ]);
  return result.rows[0]?.attempts;
}

export async function markAccepted(
  pool: Pool,
  campaignId: string,
  part: PartKey,
  messageId: string | null,
  resolvedBy: 'lookup' | 'operator' | null = null,
): Promise<void> {
  await pool.query(sql.markLedgerAccepted, [...key(campaignId, part), messageId, resolvedBy]);
}

/** Mailgun refused the part for good; its recipients are failed with `error` (and suppressed if `suppress`). */
export async function markFailed(pool: Pool, campaignId: string, part: PartKey, error: string, suppress: boolean): Promise<void> {
  await pool.query(sql.markLedgerFailed, [...key(campaignId, part), error, suppress]);
}

/** Replaces a refused part by its two halves. False when another attempt changed the part meanwhile. */
export async function split(
  pool: Pool,
  campaignId: string,
  part: PartKey,
  attempt: number,
  error: string,
  halves: [BatchPart, BatchPart],
): Promise<boolean> {
  const [left, right] = halves;
  const result = await pool.query(sql.splitLedgerPart, [
    ...key(campaignId, part),
    attempt,
    error,
    left.part,
    left.firstOrdinal,
    left.lastOrdinal,
    right.part,
    right.firstOrdinal,
    right.lastOrdinal,
  ]);
  return (result.rowCount ?? 0) > 0;
}

/** Mailgun surely did not take the part (429, refused connection, proven absent): the next attempt sends it. */
export async function markNotSent(
  pool: Pool,
  campaignId: string,
  part: PartKey,
  error: string,
  retryAfterMs: number,
  attempt: number,
): Promise<void> {
  await pool.query(sql.markLedgerNotSent, [...key(campaignId, part), error, retryAfterMs, attempt]);
}

/** No proof came in time: the part waits for an operator. */
export async function markUnknown(pool: Pool, campaignId: string, part: PartKey, attempts: number, reason: string): Promise<void> {
  await pool.query(sql.markLedgerUnknown, [...key(campaignId, part), attempts, reason]);
}

/** An operator's decision on every unknown part of a batch. */
export async function resolveUnknown(pool: Pool, campaignId: string, batchNo: number, as: 'accepted' | 'resend'): Promise<void> {
  if (as === 'resend') {
    await pool.query(sql.markUnknownForResend, [campaignId, batchNo, 'operator: not accepted by Mailgun, send again']);
    return;
  }
  const { rows } = await pool.query<{ part: string }>(sql.selectUnknownParts, [campaignId, batchNo]);
  for (const { part } of rows) await markAccepted(pool, campaignId, { batchNo, part }, null, 'operator');
}

export async function recordProbe(pool: Pool, campaignId: string, part: PartKey, attempts: number, messageId: string): Promise<void> {
  await pool.query(sql.recordProbe, [...key(campaignId, part), attempts, messageId]);
}

/** Counts a look-up in Mailgun's logs, so operators can see which parts needed one. */
export async function countOutcomeCheck(pool: Pool, campaignId: string, part: PartKey): Promise<void> {
  await pool.query(sql.countOutcomeCheck, key(campaignId, part));
}

/** The batch's parts of unknown outcome are parked: their proof is being sought (progress shows them). */
export async function markParked(pool: Pool, campaignId: string, batchNo: number): Promise<void> {
  await pool.query(sql.markBatchParked, [campaignId, batchNo]);
}

/** The outcome is unknown; the row stays 'sending' until Mailgun's logs prove it either way. */
export async function noteError(pool: Pool, campaignId: string, part: PartKey, error: string): Promise<void> {
  await pool.query(sql.noteLedgerError, [...key(campaignId, part), error]);
}

/** The earliest part of the campaign that Mailgun accepted from a request begun after `after`. */
export async function laterAcceptedPart(
  pool: Pool,
  campaignId: string,
  after: Date,
): Promise<{ messageId: string; attemptAt: Date } | undefined> {
  const result = await pool.query<{ messageId: string; attemptAt: Date }>(sql.selectLaterAcceptedPart, [campaignId, after]);
  return result.rows[0];
}

export async function batchStatus(pool: Pool, campaignId: string, batch: BatchPlan): Promise<BatchStatus> {
  const result = await pool.query<Omit<BatchStatus, 'batchNo'>>(sql.selectBatchStatus, [
    campaignId,
    batch.batchNo,
    batch.firstOrdinal,
    batch.lastOrdinal,
  ]);
  const row = result.rows[0];
  if (!row) throw new Error(`no status for campaign ${campaignId} batch ${batch.batchNo}`);
  return { batchNo: batch.batchNo, ...row };
}

export interface LedgerSummary {
  state: LedgerState;
  parts: number;
  recipients: number;
}

export async function ledgerSummary(pool: Pool, campaignId: string): Promise<LedgerSummary[]> {
  const result = await pool.query<LedgerSummary>(sql.selectLedgerSummary, [campaignId]);
  return result.rows;
}

export interface UnsettledPart {
  batchNo: number;
  part: string;
  state: 'sending' | 'unknown';
  firstOrdinal: number;
  lastOrdinal: number;
  recipients: number | null;
  attempts: number;
  lastAttemptAt: Date | null;
  lastError: string | null;
}

/** Parts whose outcome is not known yet, for `campaign show`. */
export async function unsettledParts(pool: Pool, campaignId: string): Promise<UnsettledPart[]> {
  const result = await pool.query<UnsettledPart>(sql.selectUnsettledParts, [campaignId]);
  return result.rows;
}
