import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchCount, batchMarker, planBatch } from '../../common/batches.js';

test('batches cover every ordinal exactly once, in order, at most 1000 each', () => {
  for (const [total, size] of [[1, 1000], [999, 1000], [1000, 1000], [1001, 1000], [10_000, 1000], [12_345, 250], [7, 3]] as const) {
    const seen: number[] = [];
    const count = batchCount(total, size);
    for (let n = 0; n < count; n++) {
      const batch = planBatch(total, size, n);
      assert.ok(batch.size >= 1 && batch.size <= size);
      assert.equal(batch.size, batch.lastOrdinal - batch.firstOrdinal + 1);
      for (let o = batch.firstOrdinal; o <= batch.lastOrdinal; o++) seen.push(o);
    }
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => i + 1), `total ${total} size ${size}`);
  }
});

test('an empty audience has no batches', () => {
  assert.equal(batchCount(0, 1000), 0);
});

test('the same batch number always means the same recipients', () => {
  assert.deepEqual(planBatch(5000, 1000, 3), planBatch(5000, 1000, 3));
  assert.deepEqual(planBatch(2500, 1000, 2), { batchNo: 2, firstOrdinal: 2001, lastOrdinal: 2500, size: 500 });
});

test('bad plans are refused with a message naming the value', () => {
  assert.throws(() => batchCount(10, 1001), /batchSize must be an integer from 1 to 1000, got 1001/);
  assert.throws(() => batchCount(10, 0), /batchSize/);
  assert.throws(() => batchCount(-1, 10), /total must be a non-negative integer/);
  assert.throws(() => planBatch(10, 5, 2), /batchNo 2 is outside 0..1/);
});

test('batch markers name the campaign and batch', () => {
  assert.equal(batchMarker('42', 7), '42:7');
});
