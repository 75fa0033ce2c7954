import type { Pool } from 'pg';
import type { BatchPlan } from '../common/batches.js';
import type { LedgerState } from '../common/ledger.js';
import { sql } from './queries.js';

/** Data access for the send ledger; the state machine itself is common/ledger.ts. */

export interface LedgerRow {
  state: LedgerState;
  attempts: number;
  mailgun_message_id: string | null;
  last_error: string | null;
  rate_limited_ms: number;
  first_ordinal: number;
  last_ordinal: number;
  first_attempt_at: Date | null;
  last_attempt_at: Date | null;
}

export async function ensureLedgerRow(pool: Pool, campaignId: string, batch: BatchPlan): Promise<LedgerRow> {
  const result = await pool.query<LedgerRow>(sql.ensureLedgerRow, [
    campaignId,
    batch.batchNo,
    batch.firstOrdinal,
    batch.lastOrdinal,
    batch.size,
  ]);
  const row = result.rows[0];
  if (!row) throw new Error(`send_ledger row for campaign ${campaignId} batch ${batch.batchNo} was not returned`);
  if (row.first_ordinal !== batch.firstOrdinal || row.last_ordinal !== batch.lastOrdinal) {
    // A batch number must always mean the same recipients; anything else would resend or skip people.
    throw new Error(
      `send_ledger batch ${batch.batchNo} of campaign ${campaignId} covers ${row.first_ordinal}..${row.last_ordinal}, ` +
        `not ${batch.firstOrdinal}..${batch.lastOrdinal}`,
    );
  }
  return row;
}

/**
 * Claims the next request to Mailgun for a batch, provided the row is still as
 * `seen` (read by this attempt). Returns the attempt number, or undefined when
 * another attempt got there first: an attempt Temporal gave up on may still be
 * running, and only one of the two may send.
 */
export async function markSending(
  pool: Pool,
  campaignId: string,
  batchNo: number,
  seen: Pick<LedgerRow, 'state' | 'attempts'>,
): Promise<number | undefined> {
  const result = await pool.query<{ attempts: number }>(sql.markLedgerSending, [campaignId, batchNo, seen.state, seen.attempts]);
  return result.rows[0]?.attempts;
}

export async function markAccepted(pool: Pool, campaignId: string, batchNo: number, messageId: string): Promise<void> {
  await pool.query(sql.markLedgerAccepted, [campaignId, batchNo, messageId]);
}

export async function markFailed(pool: Pool, campaignId: string, batchNo: number, error: string): Promise<void> {
  await pool.query(sql.markLedgerFailed, [campaignId, batchNo, error]);
}

/** Mailgun surely did not take the batch (429, refused connection): the next attempt sends without asking. */
export async function markNotSent(
  pool: Pool,
  campaignId: string,
  batchNo: number,
  error: string,
  retryAfterMs: number,
  attempt: number,
): Promise<void> {
  await pool.query(sql.markLedgerNotSent, [campaignId, batchNo, error, retryAfterMs, attempt]);
}

/** Counts a look-up in Mailgun's events API, so operators can see which batches needed one. */
export async function countOutcomeCheck(pool: Pool, campaignId: string, batchNo: number): Promise<void> {
  await pool.query(sql.countOutcomeCheck, [campaignId, batchNo]);
}

/** The outcome is unknown; the row stays 'sending' so the next attempt asks Mailgun first. */
export async function noteError(pool: Pool, campaignId: string, batchNo: number, error: string): Promise<void> {
  await pool.query(sql.noteLedgerError, [campaignId, batchNo, error]);
}

export interface LedgerSummary {
  state: LedgerState;
  batches: number;
  recipients: number;
}

export async function ledgerSummary(pool: Pool, campaignId: string): Promise<LedgerSummary[]> {
  const result = await pool.query<LedgerSummary>(sql.selectLedgerSummary, [campaignId]);
  return result.rows;
}
