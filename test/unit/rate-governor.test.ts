import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateGovernor } from '../../common/rate-governor.js';

test('batch starts are spaced to the configured rate, after a burst of one second', () => {
  const governor = new RateGovernor(1000);
  assert.equal(governor.delayBeforeNext(0), 0);
  governor.started(1000, 0); // schedule: next at 1000, but a one-second burst is allowed
  assert.equal(governor.delayBeforeNext(0), 0);
  governor.started(500, 0); // schedule: next at 1500
  assert.equal(governor.delayBeforeNext(0), 500);
  assert.equal(governor.delayBeforeNext(400), 100);
  assert.equal(governor.delayBeforeNext(600), 0);
});

test('over a long send the average rate holds', () => {
  const governor = new RateGovernor(2000);
  let now = 0;
  for (let batch = 0; batch < 100; batch++) {
    now += governor.delayBeforeNext(now);
    governor.started(1000, now);
  }
  // 100,000 messages at 2,000/s: 50 s, less the one-second burst and the last batch's own share.
  assert.equal(now, 50_000 - 1000 - 500);
});

test('a very high rate never waits', () => {
  const governor = new RateGovernor(1_000_000);
  for (let batch = 0; batch < 100; batch++) {
    assert.equal(governor.delayBeforeNext(0), 0);
    governor.started(1000, 0);
  }
});

test('a 429 halves the rate and holds starts for the retry-after; clean batches recover it', () => {
  const governor = new RateGovernor(1000);
  governor.observe(2000, 10_000);
  assert.equal(governor.currentRate(), 500);
  assert.equal(governor.delayBeforeNext(10_000), 2000);
  assert.equal(governor.delayBeforeNext(12_000), 0);
  governor.observe(1000, 12_000);
  assert.equal(governor.currentRate(), 250);
  for (let i = 0; i < 20; i++) governor.observe(0, 20_000);
  assert.equal(governor.currentRate(), 1000);
});

test('the rate never drops below 1/32 of the configured rate', () => {
  const governor = new RateGovernor(3200);
  for (let i = 0; i < 50; i++) governor.observe(10, 0);
  assert.equal(governor.currentRate(), 100);
});

test('state survives continue-as-new', () => {
  const governor = new RateGovernor(1000);
  governor.observe(500, 0);
  governor.started(100, 0);
  const resumed = new RateGovernor(1000, governor.state());
  assert.equal(resumed.currentRate(), governor.currentRate());
  assert.equal(resumed.delayBeforeNext(0), governor.delayBeforeNext(0));
});
