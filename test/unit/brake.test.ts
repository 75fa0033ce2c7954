import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brakeTrip, DEFAULT_BRAKE_LIMITS } from '../../common/brake.js';

const limits = DEFAULT_BRAKE_LIMITS;

test('nothing is judged before 1,000 messages are delivered, however bad the first ones look', () => {
  assert.equal(brakeTrip({ delivered: 999, bounced: 500, complained: 100 }, limits), undefined);
  assert.equal(brakeTrip({ delivered: 0, bounced: 0, complained: 0 }, limits), undefined);
});

test('bounces: above 5 % of the messages with an outcome (delivered or bounced) trips it; at 5 % it holds', () => {
  // 53 of 1,053 is 5.03 %; 52 of 1,052 is 4.94 %.
  const tripped = brakeTrip({ delivered: 1000, bounced: 53, complained: 0 }, limits);
  assert.deepEqual(tripped && { kind: tripped.kind, percent: tripped.percent, limit: tripped.limitPercent }, { kind: 'bounces', percent: 5.03, limit: 5 });
  assert.match(tripped?.reason ?? '', /^permanent bounces are 5\.03 % of messages with an outcome \(53 of 1,053\), above the brake's 5 %: the send paused itself; resume it to carry on, or cancel it$/);
  assert.equal(brakeTrip({ delivered: 1000, bounced: 52, complained: 0 }, limits), undefined);
  assert.equal(brakeTrip({ delivered: 19_000, bounced: 1000, complained: 0 }, limits), undefined, 'exactly 5 % is not above it');
});

test('complaints: above 0.3 % of delivered trips it (Gmail’s line), and they are named before bounces', () => {
  assert.equal(brakeTrip({ delivered: 1000, bounced: 0, complained: 3 }, limits), undefined, '0.3 % exactly');
  const tripped = brakeTrip({ delivered: 1000, bounced: 100, complained: 4 }, limits);
  assert.equal(tripped?.kind, 'complaints');
  assert.equal(tripped?.percent, 0.4);
  assert.match(tripped?.reason ?? '', /spam complaints are 0\.4 % of delivered messages \(4 of 1,000\), above the brake's 0\.3 %/);
});

test('the limits are the deployment’s', () => {
  const strict = { minDelivered: 100, bouncePercent: 2, complaintPercent: 0.1 };
  assert.equal(brakeTrip({ delivered: 100, bounced: 3, complained: 0 }, strict)?.kind, 'bounces');
  assert.equal(brakeTrip({ delivered: 99, bounced: 30, complained: 0 }, strict), undefined);
});
