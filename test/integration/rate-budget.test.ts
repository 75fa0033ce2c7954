import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findBudget, recover, reserveSlot, slowDown } from '../../db/rate-budget.js';
import type { AcceptedMessage } from '../../local-stack/mailgun-server.js';
import { acceptedFor, acceptedRate, deliveryReport } from '../helpers/delivery.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';

/**
 * The sending rate is a budget per Mailgun domain, kept in Aurora and shared
 * by every campaign and worker: each sendBatch reserves the next slot and
 * waits for it. Two campaigns on one domain send at the domain's rate
 * together, a campaign's own ceiling holds within it, and a 429 slows the
 * domain for everyone sending there.
 */

const DOMAIN_RATE = 1500;
const file = harnessForFile({ users: 3000, seed: { mixed: false }, settings: { SEND_RATE_PER_SECOND: String(DOMAIN_RATE) } });

async function createCampaign(name: string, limit?: number): Promise<string> {
  return file.h.campaigns.create({
    name,
    type: 'newsletter',
    content: { subject: name, text: 'Hello' },
    audience: limit === undefined ? {} : { limit },
  });
}

const ofCampaigns = (...ids: string[]): AcceptedMessage[] => acceptedFor(file.h.mailgun, ...ids);

test('reservations follow one another at the budget’s rate; a 429 halves it once and holds every slot past its Retry-After', async () => {
  const { pool } = file.h;
  const budget = 'budget-test.example';
  assert.equal((await reserveSlot(pool, budget, 1000, 500)).waitMs, 0, 'an idle budget sends at once');
  const second = await reserveSlot(pool, budget, 1000, 500);
  assert.ok(second.waitMs > 400 && second.waitMs <= 500, `the second 500 wait for the first's half second (${second.waitMs} ms)`);

  await slowDown(pool, budget, 2000);
  await slowDown(pool, budget, 2000); // a second batch meeting the same 429
  assert.equal(Math.round((await findBudget(pool, budget))?.currentPerSecond ?? 0), 500, 'halved once per Retry-After, however many batches met it');
  const after = await reserveSlot(pool, budget, 1000, 500);
  assert.ok(after.waitMs >= 1900, `no slot before the Retry-After has passed (${after.waitMs} ms)`);
  assert.equal(after.factor, 0.5);

  await recover(pool, budget);
  assert.equal(Math.round((await findBudget(pool, budget))?.currentPerSecond ?? 0), 600, 'a clean batch brings back a tenth of the rate');
  assert.equal((await findBudget(pool, budget))?.rateLimits, 2);
});

test('two campaigns on one domain at once send at the domain’s budget together, and progress shows it', async () => {
  const first = await createCampaign('shared budget A', 1500);
  const second = await createCampaign('shared budget B', 1500);
  await Promise.all([first, second].map((id) => file.h.campaigns.startSend(id, { batchSize: 100, window: 4 })));

  const during = await waitFor(async () => {
    const progress = await file.h.campaigns.progress(first);
    return progress.sent > 0 && progress.rate !== undefined ? progress : undefined;
  }, { what: 'progress with the rate' });
  assert.equal(during.rate?.domain, file.h.config.MAILGUN_DOMAIN);
  assert.equal(during.rate?.domainPerSecond, DOMAIN_RATE);
  assert.equal(during.rate?.campaignPerSecond, null);

  await Promise.all([first, second].map((id) => file.h.campaigns.result(id)));
  const rate = acceptedRate(ofCampaigns(first, second));
  // Slots are reserved in Aurora, so the two together never go faster than the budget (within the jitter of
  // when Mailgun's answers come back; each on a budget of its own would make twice that), and slower only if
  // this machine cannot keep up. The benchmark measures how close it is.
  assert.ok(rate <= DOMAIN_RATE * 1.1, `together at most the domain's ${DOMAIN_RATE}/s, measured ${Math.round(rate)}/s`);
  assert.ok(rate >= DOMAIN_RATE * 0.5, `and not far below it: measured ${Math.round(rate)}/s`);
  for (const id of [first, second]) {
    const report = deliveryReport(file.h.mailgun, id, file.profiles.slice(0, 1500));
    assert.deepEqual([report.duplicates.length, report.missing.length], [0, 0]);
  }
});

test('a campaign’s own ceiling holds within its domain’s budget', async () => {
  const campaignId = await createCampaign('own ceiling', 1000);
  await file.h.campaigns.startSend(campaignId, { batchSize: 50, window: 4, ratePerSecond: 400 });
  await file.h.campaigns.result(campaignId);
  const rate = acceptedRate(ofCampaigns(campaignId));
  assert.ok(rate <= 400 * 1.1, `at most its own 400/s, measured ${Math.round(rate)}/s`);
  assert.equal((await file.h.campaigns.progress(campaignId)).rate?.campaignPerSecond, 400);
});

test('Mailgun’s 429s slow the domain for every campaign on it; both still send everyone once', async () => {
  const first = await createCampaign('429 A', 1000);
  const second = await createCampaign('429 B', 1000);
  file.h.mailgun.setRandomFaults({ rateLimit: 0.05, retryAfterSeconds: 1, seed: 5 });
  try {
    await Promise.all([first, second].map((id) => file.h.campaigns.startSend(id, { batchSize: 50, window: 4 })));
    await Promise.all([first, second].map((id) => file.h.campaigns.result(id)));
  } finally {
    file.h.mailgun.setRandomFaults(null);
  }
  assert.ok(file.h.mailgun.faultsInjected['rate-limit'] > 0, 'Mailgun answered 429 at least once');
  const budget = await findBudget(file.h.pool, file.h.config.MAILGUN_DOMAIN);
  assert.ok(budget && budget.rateLimits >= file.h.mailgun.faultsInjected['rate-limit'], 'every 429 reached the domain’s budget');
  assert.ok(budget.rateLimitedAt !== null);
  for (const id of [first, second]) {
    const report = deliveryReport(file.h.mailgun, id, file.profiles.slice(0, 1000));
    assert.deepEqual([report.duplicates.length, report.missing.length], [0, 0]);
  }
});
