/**
 * The send ledger's state machine: one row per batch part. A batch starts as one
 * part covering all its ordinals; Mailgun refusing it for a bad address splits it
 * into two halves, each a part with its own row and marker.
 *
 *   pending  --claim-->  sending  --Mailgun 2xx-->                  accepted (final)
 *                        sending  --permanent 4xx-->                failed   (final)
 *                        sending  --refused for a bad address-->    split    (final; its halves carry on)
 *                        sending  --429 / refused connection-->     pending  (surely not accepted)
 *                        sending  --reset, timeout, 5xx, crash-->   stays sending: outcome unknown, parked
 *                                                                   until Mailgun's logs prove it either way
 *                        sending  --no proof within the max wait--> unknown  (an operator decides)
 *                        unknown  --operator: accepted | resend-->  accepted | pending
 */

export const LEDGER_STATES = ['pending', 'sending', 'accepted', 'failed', 'split', 'unknown'] as const;
export type LedgerState = (typeof LEDGER_STATES)[number];

const transitions: Record<LedgerState, readonly LedgerState[]> = {
  pending: ['sending'],
  sending: ['accepted', 'failed', 'split', 'pending', 'unknown'],
  unknown: ['accepted', 'pending'],
  accepted: [],
  failed: [],
  split: [],
};

export function canTransition(from: LedgerState, to: LedgerState): boolean {
  return transitions[from].includes(to);
}

export function isFinal(state: LedgerState): boolean {
  return transitions[state].length === 0;
}

/** What a batch needs next, judged from the states of all its parts. */
export type BatchRoute =
  /** Some part is known not to have been sent: send it (takes a window slot). */
  | 'send'
  /** Some part's last attempt has an unknown outcome: park the batch until Mailgun's logs prove it. */
  | 'resolve'
  /** Some part could not be proven either way in time: an operator decides. */
  | 'operator'
  /** Every part is accepted or failed. */
  | 'done';

/** Where a batch stands, counted over its parts; counts only, never recipients. */
export interface BatchStatus {
  batchNo: number;
  /** Recipients in accepted parts. */
  sent: number;
  /** Recipients who will not get this campaign: invalid addresses, parts Mailgun refused. */
  failed: number;
  pendingParts: number;
  sendingParts: number;
  unknownParts: number;
  /** Total Retry-After waits Mailgun imposed on this batch; > 0 tells the workflow to slow down. */
  rateLimitedMs: number;
}

export function routeBatch(status: BatchStatus): BatchRoute {
  if (status.pendingParts > 0) return 'send';
  if (status.sendingParts > 0) return 'resolve';
  if (status.unknownParts > 0) return 'operator';
  return 'done';
}
