/**
 * Batch planning: a campaign's frozen audience (ordinals 1..total) is cut into
 * fixed-size, contiguous batches. Batch n always covers the same ordinals, so a
 * retried or resumed batch sends to exactly the same people.
 */

export const MAX_MAILGUN_RECIPIENTS = 1000;

export interface BatchPlan {
  /** 0-based batch number, unique within a campaign. */
  batchNo: number;
  /** Inclusive range of campaign_recipients.ordinal (1-based). */
  firstOrdinal: number;
  lastOrdinal: number;
  size: number;
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_MAILGUN_RECIPIENTS) {
    throw new RangeError(`batchSize must be an integer from 1 to ${MAX_MAILGUN_RECIPIENTS}, got ${batchSize}`);
  }
}

export function batchCount(total: number, batchSize: number): number {
  checkBatchSize(batchSize);
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`total must be a non-negative integer, got ${total}`);
  return Math.ceil(total / batchSize);
}

export function planBatch(total: number, batchSize: number, batchNo: number): BatchPlan {
  const count = batchCount(total, batchSize);
  if (!Number.isInteger(batchNo) || batchNo < 0 || batchNo >= count) {
    throw new RangeError(`batchNo ${batchNo} is outside 0..${count - 1}`);
  }
  const firstOrdinal = batchNo * batchSize + 1;
  const lastOrdinal = Math.min(total, firstOrdinal + batchSize - 1);
  return { batchNo, firstOrdinal, lastOrdinal, size: lastOrdinal - firstOrdinal + 1 };
}

/** The `v:` marker Mailgun stores with every message of a batch; it identifies the batch in the events API. */
export function batchMarker(campaignId: string, batchNo: number): string {
  return `${campaignId}:${batchNo}`;
}
