import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressMeter } from '../../common/progress-meter.js';

test('the rate is taken over the last samples; the ETA is what is left at that rate', () => {
  const meter = new ProgressMeter(3);
  assert.deepEqual(meter.add({ atMs: 0, done: 0, total: 1000 }), { perSecond: 0, etaSeconds: undefined });
  assert.deepEqual(meter.add({ atMs: 1000, done: 100, total: 1000 }), { perSecond: 100, etaSeconds: 9 });
  assert.deepEqual(meter.add({ atMs: 2000, done: 300, total: 1000 }), { perSecond: 150, etaSeconds: 700 / 150 });
  // The first sample leaves the window: 100 → 400 over two seconds.
  assert.deepEqual(meter.add({ atMs: 3000, done: 400, total: 1000 }), { perSecond: 150, etaSeconds: 4 });
});

test('a pause shows as no rate and no ETA once the window holds only still samples; done is an ETA of 0', () => {
  const meter = new ProgressMeter(2);
  meter.add({ atMs: 0, done: 0, total: 500 });
  meter.add({ atMs: 1000, done: 200, total: 500 });
  meter.add({ atMs: 2000, done: 200, total: 500 });
  assert.deepEqual(meter.reading(), { perSecond: 0, etaSeconds: undefined });
  assert.deepEqual(meter.add({ atMs: 3000, done: 500, total: 500 }), { perSecond: 300, etaSeconds: 0 });
});

test('a count that goes back, or a sample out of order, starts the window again', () => {
  const meter = new ProgressMeter(5);
  meter.add({ atMs: 0, done: 0, total: 100 });
  meter.add({ atMs: 1000, done: 50, total: 100 });
  assert.deepEqual(meter.add({ atMs: 2000, done: 10, total: 100 }), { perSecond: 0, etaSeconds: undefined });
  assert.deepEqual(meter.add({ atMs: 3000, done: 30, total: 100 }), { perSecond: 20, etaSeconds: 3.5 });
});
