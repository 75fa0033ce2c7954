import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canTransition, isFinal, LEDGER_STATES, routeBatch, type BatchStatus } from '../../common/ledger.js';

test('accepted, failed and split are final: nothing leaves them', () => {
  for (const state of ['accepted', 'failed', 'split'] as const) {
    assert.ok(isFinal(state));
    for (const to of LEDGER_STATES) assert.equal(canTransition(state, to), false, `${state} -> ${to}`);
  }
});

test('a part reaches accepted, failed or split only from sending; unknown only an operator settles', () => {
  for (const to of ['accepted', 'failed', 'split', 'unknown'] as const) {
    assert.ok(canTransition('sending', to));
    assert.equal(canTransition('pending', to), false, `pending -> ${to}`);
  }
  assert.ok(canTransition('unknown', 'accepted'));
  assert.ok(canTransition('unknown', 'pending'));
  assert.equal(canTransition('unknown', 'sending'), false, 'an unknown part is never sent without a decision');
  assert.equal(canTransition('sending', 'sending'), false, 'an unknown outcome is settled before any resend');
});

const status = (parts: Partial<BatchStatus>): BatchStatus => ({
  batchNo: 0,
  sent: 0,
  failed: 0,
  pendingParts: 0,
  sendingParts: 0,
  unknownParts: 0,
  rateLimitedMs: 0,
  ...parts,
});

test('a batch goes where its least settled part needs it', () => {
  assert.equal(routeBatch(status({ sent: 1000 })), 'done');
  assert.equal(routeBatch(status({ sent: 997, failed: 3 })), 'done');
  assert.equal(routeBatch(status({ unknownParts: 1 })), 'operator');
  assert.equal(routeBatch(status({ sendingParts: 1, unknownParts: 1 })), 'resolve');
  assert.equal(routeBatch(status({ pendingParts: 1, sendingParts: 1 })), 'send', 'sending what is known unsent comes first');
});
