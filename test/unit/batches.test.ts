import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchCount, batchMarker, planBatch, splitPart, wholeBatch } from '../../common/batches.js';

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

test('batch markers name the part too, once a batch has been split', () => {
  assert.equal(batchMarker('42', 7, '7001-7500'), '42:7:7001-7500');
});

test('a part splits into two halves, each with at least one sendable recipient', () => {
  const whole = wholeBatch(planBatch(3000, 1000, 1));
  assert.deepEqual(whole, { batchNo: 1, part: '', firstOrdinal: 1001, lastOrdinal: 2000 });
  const sendable = Array.from({ length: 1000 }, (_, i) => 1001 + i).filter((o) => o !== 1002);
  const [left, right] = splitPart(whole, sendable);
  assert.deepEqual(left, { batchNo: 1, part: '1001-1500', firstOrdinal: 1001, lastOrdinal: 1500 });
  assert.deepEqual(right, { batchNo: 1, part: '1501-2000', firstOrdinal: 1501, lastOrdinal: 2000 });
  // Two sendable recipients far apart: one each, the range still covered without gaps.
  const [a, b] = splitPart(left, [1003, 1499]);
  assert.deepEqual([a.firstOrdinal, a.lastOrdinal, b.firstOrdinal, b.lastOrdinal], [1001, 1003, 1004, 1500]);
  assert.throws(() => splitPart(a, [1003]), /needs two sendable recipients/);
});
