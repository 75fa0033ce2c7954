import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendWorkflowId } from '../../common/campaign.js';
import { findCampaignStats } from '../../db/campaigns.js';
import { ledgerSummary } from '../../db/ledger.js';
import { assertSendRecorded } from '../helpers/aurora.js';
import { deliveryReport } from '../helpers/delivery.js';
import { waitFor, harnessForFile } from '../helpers/harness.js';

const file = harnessForFile({ users: 14_000 });

test('a 10,000-recipient campaign reaches every eligible user exactly once and nobody else', async () => {
  const campaignId = await file.h.campaigns.create({
    name: 'November newsletter',
    type: 'newsletter',
    content: { subject: 'News for %recipient.name%', html: '<p>Hi %recipient.name%</p>', text: 'Hi %recipient.name%' },
    audience: { emailType: 'newsletter', limit: 10_000 },
  });
  const started = await file.h.campaigns.startSend(campaignId, { batchSize: 1000, window: 4, ratePerSecond: 100_000 });
  assert.equal(started.workflowId, sendWorkflowId(campaignId));

  const result = await file.h.campaigns.result(campaignId);
  // The first 10,000 eligible users by id (the limit applies after the filters).
  const eligible = file.profiles.filter((p) => p.status === 'active' && p.subscriptionStatus === 'subscribed' && !p.suppressed && p.emailTypes.includes('newsletter'));
  const audience = eligible.slice(0, 10_000);
  assert.equal(audience.length, 10_000, 'the seed has enough eligible users');
  assert.deepEqual(result, { campaignId, status: 'sent', total: 10_000, sent: 10_000, failed: 0, unknownBatches: [] });

  const report = deliveryReport(file.h.mailgun, campaignId, audience, 'newsletter');
  assert.equal(report.duplicates.length, 0, `duplicates: ${report.duplicates.slice(0, 5).join(', ')}`);
  assert.equal(report.missing.length, 0, `missing: ${report.missing.slice(0, 5).join(', ')}`);
  assert.equal(report.unexpected.length, 0, `unexpected: ${report.unexpected.slice(0, 5).join(', ')}`);
  assert.equal(report.delivered, 10_000);
  // Nobody unsubscribed, suppressed, inactive or without the newsletter type got anything.
  const ineligible = new Set(file.profiles.filter((p) => !audience.includes(p)).map((p) => p.email));
  assert.equal(file.h.mailgun.accepted().filter((m) => ineligible.has(m.recipient)).length, 0);

  // Each recipient got their own personalisation and the batch marker.
  const one = file.h.mailgun.accepted().find((m) => m.recipient === audience[17]?.email);
  assert.equal((one?.recipientVariables as { name?: string } | undefined)?.name, audience[17]?.name);
  assert.match(one?.variables['dn_batch'] ?? '', new RegExp(`^${campaignId}:\\d+$`));
  assert.ok(file.h.mailgun.acceptedBatches <= 10, 'at most 1000 recipients per Mailgun call');

  // Aurora: status, stats and ledger agree.
  await assertSendRecorded(file.h.pool, campaignId);
  const stats = await findCampaignStats(file.h.pool, campaignId);
  assert.deepEqual({ total: stats?.total, sent: stats?.sent, failed: stats?.failed }, { total: 10_000, sent: 10_000, failed: 0 });
  assert.deepEqual(await ledgerSummary(file.h.pool, campaignId), [{ state: 'accepted', parts: 10, recipients: 10_000 }]);

  // Firestore: the CRM's projection shows the final counts.
  const doc = (await file.h.firestore.firestore.collection('campaigns').doc(campaignId).get()).data();
  assert.equal(doc?.['status'], 'sent');
  assert.deepEqual(doc?.['progress'], {
    total: 10_000,
    sent: 10_000,
    failed: 0,
    inFlight: 0,
    batchesTotal: 10,
    batchesDone: 10,
    parkedBatches: 0,
    unknownBatches: 0,
  });
  assert.ok(doc?.['updatedAt'], 'updatedAt is set');

  // Operators find it in Temporal by its search attributes.
  const query = `CampaignId = "${campaignId}" AND CampaignType = "newsletter" AND CampaignStatus = "sent"`;
  await waitFor(
    async () => {
      for await (const wf of file.h.temporal.workflow.list({ query })) if (wf.workflowId === sendWorkflowId(campaignId)) return true;
      return false;
    },
    { timeoutMs: 10_000, what: `a workflow matching ${query}` },
  );
});

test('a campaign whose audience is empty completes at once with nothing sent', async () => {
  const campaignId = await file.h.campaigns.create({
    name: 'Nobody',
    type: 'outreach',
    content: { subject: 'Hello', text: 'Hello' },
    audience: { emailType: 'no-such-type' },
  });
  await file.h.campaigns.startSend(campaignId);
  assert.deepEqual(await file.h.campaigns.result(campaignId), { campaignId, status: 'sent', total: 0, sent: 0, failed: 0, unknownBatches: [] });
});
