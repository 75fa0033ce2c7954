/**
 * Retry rounds' vocabulary, shared by the send workflow, its activities and clients. Pure: the
 * workflow bundle imports it. A round is a send of its own (workflow `campaign-retry-<id>-<round>`)
 * over recipients frozen for it as new ledger parts (db/retries.ts says who).
 */
import type { BatchPlan } from './batches.js';

/** Mailgun retries a temporary failure itself for up to 8 hours: until then it may still deliver. */
export const DEFAULT_TEMPORARY_AFTER_MS = 8 * 60 * 60 * 1000;

/** What a round sends to, as its workflow carries it: ids and a filter, never people. */
export interface RetryRequest {
  campaignId: string;
  /** 1 for the first retry of a campaign, then 2, … */
  round: number;
  /** Only failures whose reason contains this text, case-insensitive. */
  reasonLike?: string;
  /** Temporary failures count once they are this old. */
  temporaryAfterMs: number;
  /** Who asked (the audit log has the rest). */
  requestedBy?: string;
}

export function retryWorkflowId(campaignId: string, round: number): string {
  return `campaign-retry-${campaignId}-${round}`;
}

/**
 * A round's batch, as the ledger knows it. The round's send plans batches 0.. over ordinals 1..n
 * of its own; in the ledger they are batch and ordinal numbers after every earlier round's, from
 * the round's first ordinal `first`. Batch numbers stay unique because every batch number is at most
 * its first ordinal: batch b of a round starts at ordinal first + b × size ≥ first + b.
 */
export function roundBatch(batch: BatchPlan, first: number): BatchPlan {
  return {
    batchNo: first + batch.batchNo,
    firstOrdinal: first - 1 + batch.firstOrdinal,
    lastOrdinal: first - 1 + batch.lastOrdinal,
    size: batch.size,
  };
}

/** The round's own number of a ledger batch number (the inverse of roundBatch). */
export function roundBatchNo(ledgerBatchNo: number, first: number): number {
  return ledgerBatchNo - first;
}
