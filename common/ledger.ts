/**
 * The send ledger's state machine: one row per campaign batch.
 *
 *   pending  --attempt-->  sending  --Mailgun 2xx-->             accepted (final)
 *                          sending  --permanent 4xx-->           failed   (final)
 *                          sending  --429 / refused connection--> pending (surely not accepted)
 *                          sending  --reset, timeout, 5xx, crash-> stays sending: outcome unknown,
 *                                                                 resolved via the events API before any resend
 */

export const LEDGER_STATES = ['pending', 'sending', 'accepted', 'failed'] as const;
export type LedgerState = (typeof LEDGER_STATES)[number];

const transitions: Record<LedgerState, readonly LedgerState[]> = {
  pending: ['sending'],
  sending: ['accepted', 'failed', 'pending', 'sending'],
  accepted: [],
  failed: [],
};

export function canTransition(from: LedgerState, to: LedgerState): boolean {
  return transitions[from].includes(to);
}

export function isFinal(state: LedgerState): boolean {
  return transitions[state].length === 0;
}

/** What the next attempt on a batch must do first, given the state its ledger row is in. */
export type NextStep = 'send' | 'resolve-then-send' | 'done';

export function nextStep(state: LedgerState): NextStep {
  switch (state) {
    case 'pending':
      return 'send';
    case 'sending':
      return 'resolve-then-send';
    case 'accepted':
    case 'failed':
      return 'done';
  }
}
