import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findCampaign, findCampaignStats } from '../../db/campaigns.js';
import { ledgerSummary } from '../../db/ledger.js';
import { campaignError } from '../helpers/errors.js';
import { harnessForFile } from '../helpers/harness.js';

/**
 * A refused sender is not a bad recipient. Mailgun refuses a malformed `from`
 * with the same words it uses for a bad `to` ("… is not a valid address"), and
 * it refuses a request for other reasons of ours (domain, parameters). Such a
 * campaign fails once, visibly, with the reason, before more batches go out,
 * and nobody is failed or suppressed for it.
 */

const file = harnessForFile({ users: 200, seed: { mixed: false } });

async function suppressedUsers(): Promise<number> {
  const { rows } = await file.h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE suppressed_at IS NOT NULL');
  return rows[0]?.n ?? 0;
}

async function failedRecipients(campaignId: string): Promise<number> {
  const { rows } = await file.h.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM campaign_recipients WHERE campaign_id = $1 AND failed_at IS NOT NULL',
    [campaignId],
  );
  return rows[0]?.n ?? 0;
}

test('a campaign whose sender Mailgun refuses ends failed with the reason; no one is failed or suppressed', async () => {
  const campaignId = await file.h.campaigns.create({
    name: 'bare display name',
    type: 'newsletter',
    content: { subject: 'Hello', text: 'Hi %recipient.name%' },
    audience: {},
  });
  // A draft saved before senders were validated (today `--from 'Distro Nation'` is refused at once).
  await file.h.pool.query(`UPDATE campaigns SET from_address = 'Distro Nation' WHERE id = $1`, [campaignId]);
  const suppressedBefore = await suppressedUsers();
  const requestsBefore = file.h.mailgun.requests;

  await file.h.campaigns.startSend(campaignId, { batchSize: 20, window: 2 });
  await assert.rejects(file.h.campaigns.lifecycleResult(campaignId), campaignError('failed', /'from' parameter is not a valid address/));

  const campaign = await findCampaign(file.h.pool, campaignId);
  assert.equal(campaign?.status, 'failed');
  assert.match(campaign?.failureReason ?? '', /Mailgun refused the campaign's request \(400\): .*'from' parameter is not a valid address/);
  assert.equal(await suppressedUsers(), suppressedBefore, 'no one is suppressed for our own sender');
  assert.equal(await failedRecipients(campaignId), 0, 'no recipient is failed for it');
  assert.equal((await findCampaignStats(file.h.pool, campaignId))?.failed, 0);
  assert.equal(file.h.mailgun.acceptedCount, 0);
  const requests = file.h.mailgun.requests - requestsBefore;
  assert.ok(requests >= 1 && requests <= 2, `the send stopped at the first refusals, no splitting (${requests} requests for 10 batches)`);
  const states = (await ledgerSummary(file.h.pool, campaignId)).map((row) => row.state);
  assert.ok(!states.includes('failed') && !states.includes('split'), `no part was failed or split: ${states.join(', ')}`);
  const { rows } = await file.h.pool.query<{ last_error: string }>(
    `SELECT last_error FROM send_ledger WHERE campaign_id = $1 AND last_error IS NOT NULL`,
    [campaignId],
  );
  assert.ok(rows.length > 0 && rows.every((r) => r.last_error.includes("'from' parameter")), 'the ledger says why');
});

test('Mailgun refusing a request for another reason of ours (say, its parameters) fails the campaign the same way', async () => {
  const campaignId = await file.h.campaigns.create({
    name: 'refused parameters',
    type: 'newsletter',
    content: { subject: 'Hello', text: 'Hi' },
    audience: { limit: 50 },
  });
  file.h.mailgun.injectFaults({ kind: 'reject', status: 400, message: "'h:Reply-To' parameter is not a valid address. please check documentation" });
  const suppressedBefore = await suppressedUsers();
  await file.h.campaigns.startSend(campaignId, { batchSize: 10, window: 1 });
  await assert.rejects(file.h.campaigns.lifecycleResult(campaignId), campaignError('failed', /Reply-To/));
  assert.equal((await findCampaign(file.h.pool, campaignId))?.status, 'failed');
  assert.equal(await suppressedUsers(), suppressedBefore);
  assert.equal(await failedRecipients(campaignId), 0);
});
