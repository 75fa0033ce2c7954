/**
 * Batch planning: a campaign's frozen audience (ordinals 1..total) is cut into
 * fixed-size, contiguous batches. Batch n always covers the same ordinals, so a
 * retried or resumed batch sends to exactly the same people. A batch Mailgun
 * refuses because of a bad address is split into parts (halves of its range),
 * each sent, recorded and looked up on its own.
 */

export const MAX_MAILGUN_RECIPIENTS = 1000;

/**
 * The most batches one send run may start before it continues as new. A run decides by this count
 * alone (not the server's continueAsNewSuggested), and a batch costs about five history events, so
 * this keeps a run well under Temporal's 10,240-event warning.
 */
export const MAX_BATCHES_PER_RUN = 1500;

export interface BatchPlan {
  /** 0-based batch number, unique within a campaign. */
  batchNo: number;
  /** Inclusive range of campaign_recipients.ordinal (1-based). */
  firstOrdinal: number;
  lastOrdinal: number;
  size: number;
}

/** A contiguous piece of a batch with a ledger row of its own; `part` is '' for the whole batch. */
export interface BatchPart {
  batchNo: number;
  part: string;
  firstOrdinal: number;
  lastOrdinal: number;
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

export function wholeBatch(batch: BatchPlan): BatchPart {
  return { batchNo: batch.batchNo, part: '', firstOrdinal: batch.firstOrdinal, lastOrdinal: batch.lastOrdinal };
}

/**
 * Halves a part between its `sendable` ordinals (sorted, at least two): each half
 * holds at least one of them. Halves are named by their ranges, so a retry that
 * splits the same part again names the same halves.
 */
export function splitPart(part: BatchPart, sendable: readonly number[]): [BatchPart, BatchPart] {
  if (sendable.length < 2) throw new RangeError(`a part needs two sendable recipients to split, has ${sendable.length}`);
  const lastOfLeft = sendable[Math.floor(sendable.length / 2) - 1] as number;
  const half = (firstOrdinal: number, lastOrdinal: number): BatchPart => ({
    batchNo: part.batchNo,
    part: `${firstOrdinal}-${lastOrdinal}`,
    firstOrdinal,
    lastOrdinal,
  });
  return [half(part.firstOrdinal, lastOfLeft), half(lastOfLeft + 1, part.lastOrdinal)];
}

/** The `v:` marker Mailgun stores with every message of a batch part; it identifies the part in Mailgun's logs. */
export function batchMarker(campaignId: string, batchNo: number, part = ''): string {
  return part === '' ? `${campaignId}:${batchNo}` : `${campaignId}:${batchNo}:${part}`;
}
