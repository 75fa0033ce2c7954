import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canTransition, isFinal, LEDGER_STATES, nextStep } from '../../common/ledger.js';

test('accepted and failed are final: nothing leaves them', () => {
  for (const state of ['accepted', 'failed'] as const) {
    assert.ok(isFinal(state));
    for (const to of LEDGER_STATES) assert.equal(canTransition(state, to), false, `${state} -> ${to}`);
  }
});

test('a batch reaches accepted or failed only from sending', () => {
  assert.ok(canTransition('sending', 'accepted'));
  assert.ok(canTransition('sending', 'failed'));
  assert.equal(canTransition('pending', 'accepted'), false);
  assert.equal(canTransition('pending', 'failed'), false);
});

test('a batch whose last attempt has an unknown outcome is resolved before it is sent again', () => {
  assert.equal(nextStep('pending'), 'send');
  assert.equal(nextStep('sending'), 'resolve-then-send');
  assert.equal(nextStep('accepted'), 'done');
  assert.equal(nextStep('failed'), 'done');
});
