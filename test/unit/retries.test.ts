import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchCount, planBatch } from '../../common/batches.js';
import { retryWorkflowId, roundBatch, roundBatchNo } from '../../common/retries.js';
import { checkRoundMayStart, RetryRefused, roundOfBatch } from '../../db/retries.js';

test('a round’s batches follow every earlier round’s, in ledger batch numbers and ordinals alike', () => {
  // Round 0: 95 recipients in batches of 10 (batches 0..9); round 1: 40 of them in batches of 7; round 2: 3 in batches of 1000.
  const rounds = [
    { total: 95, size: 10 },
    { total: 40, size: 7 },
    { total: 3, size: 1000 },
  ];
  const batchNos = new Set<number>();
  const ordinals = new Set<number>();
  let first = 1;
  for (const [i, { total, size }] of rounds.entries()) {
    for (let b = 0; b < batchCount(total, size); b++) {
      const local = planBatch(total, size, b);
      const ledger = i === 0 ? local : roundBatch(local, first);
      assert.ok(!batchNos.has(ledger.batchNo), `batch ${ledger.batchNo} of round ${i} is new`);
      batchNos.add(ledger.batchNo);
      if (i > 0) assert.equal(roundBatchNo(ledger.batchNo, first), b);
      assert.equal(ledger.size, local.size);
      for (let o = ledger.firstOrdinal; o <= ledger.lastOrdinal; o++) {
        assert.ok(!ordinals.has(o), `ordinal ${o} of round ${i} is new`);
        ordinals.add(o);
      }
    }
    first += total;
  }
  assert.equal(ordinals.size, 95 + 40 + 3);
  assert.deepEqual([...ordinals].sort((a, b) => a - b), Array.from({ length: 138 }, (_, i) => i + 1), 'ordinals have no gaps');
  assert.deepEqual(roundBatch(planBatch(40, 7, 5), 96), { batchNo: 101, firstOrdinal: 131, lastOrdinal: 135, size: 5 });
  const shown = [{ round: 1, firstOrdinal: 96 }, { round: 2, firstOrdinal: 136 }];
  assert.deepEqual([9, 96, 101, 135, 136].map((b) => roundOfBatch(shown, b)?.round), [undefined, 1, 1, 1, 2], 'a ledger batch number names its round');
});

test('a round starts only once everything of the campaign has stopped sending, and in turn', () => {
  const refused = (fn: () => void, pattern: RegExp) => assert.throws(fn, (e: unknown) => e instanceof RetryRefused && pattern.test(e.message));
  refused(() => checkRoundMayStart('7', 'sending', [], 1), /campaign 7 is sending: recipients can be retried once its send is over/);
  refused(() => checkRoundMayStart('7', 'needs-attention', [], 1), /is needs-attention/);
  refused(() => checkRoundMayStart('7', 'draft', [], 1), /is draft/);
  refused(() => checkRoundMayStart('7', 'failed', [{ round: 1, status: 'paused' }], 2), /still sending retry round 1/);
  refused(() => checkRoundMayStart('7', 'failed', [{ round: 1, status: 'sent' }], 1), /round 1 .* out of turn: the next round is 2/);
  for (const status of ['sent', 'tracking', 'analysed', 'archived', 'failed', 'cancelled'] as const) checkRoundMayStart('7', status, [], 1);
  checkRoundMayStart('7', 'tracking', [{ round: 1, status: 'failed' }, { round: 2, status: 'sent' }], 3);
  assert.equal(retryWorkflowId('7', 2), 'campaign-retry-7-2');
});
