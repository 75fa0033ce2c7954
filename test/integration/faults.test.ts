import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendWorkflowId } from '../../common/campaign.js';
import { findCampaignStats } from '../../db/campaigns.js';
import { ledgerSummary } from '../../db/ledger.js';
import { deliveryReport } from '../helpers/delivery.js';
import { harnessForFile } from '../helpers/harness.js';
import { seedUsers } from '../../local-stack/seed.js';

const file = harnessForFile({ users: 6500 });

test('429s, 500s and accepted-then-dropped responses at random: every recipient exactly once', async () => {
  file.h.mailgun.setRandomFaults({ rateLimit: 0.1, serverError: 0.1, acceptThenDrop: 0.1, slow: 0.05, slowDelayMs: 200, seed: 7 });
  try {
    const campaignId = await file.h.campaigns.create({
      name: 'faults',
      type: 'financial',
      content: { subject: 'Your statement', html: '<p>Hi %recipient.name%</p>' },
      audience: {},
    });
    // Small batches and runs: many Mailgun calls, several continue-as-new hand-overs.
    await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 4, ratePerSecond: 100_000, batchesPerRun: 12 });
    const result = await file.h.campaigns.result(campaignId);

    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
    assert.ok(report.expected > 5000);
    assert.deepEqual(result, { campaignId, status: 'sent', total: report.expected, sent: report.expected, failed: 0 });
    assert.equal(report.duplicates.length, 0, `duplicates: ${report.duplicates.slice(0, 5).join(', ')}`);
    assert.equal(report.missing.length, 0, `missing: ${report.missing.slice(0, 5).join(', ')}`);
    assert.equal(report.unexpected.length, 0);

    const faults = file.h.mailgun.faultsInjected;
    assert.ok(faults['rate-limit'] > 0 && faults['server-error'] > 0 && faults['accept-then-drop'] > 0, JSON.stringify(faults));
    assert.deepEqual(await ledgerSummary(file.h.pool, campaignId), [
      { state: 'accepted', batches: Math.ceil(report.expected / 100), recipients: report.expected },
    ]);
    assert.equal((await findCampaignStats(file.h.pool, campaignId))?.sent, report.expected);

    // The send really did hand over between runs, carrying its counts.
    let runs = 0;
    for await (const run of file.h.temporal.workflow.list({ query: `WorkflowId = "${sendWorkflowId(campaignId)}"` })) {
      runs++;
      assert.ok(run.historyLength < 1000, `run history stays small (${run.historyLength} events)`);
    }
    assert.ok(runs >= 4, `continued as new: ${runs} runs`);
  } finally {
    file.h.mailgun.setRandomFaults(null);
  }
});

test('a batch Mailgun refuses for good fails visibly; the rest of the campaign goes out', async () => {
  // An address Mailgun rejects: its whole batch fails (Mailgun refuses the call, not one recipient).
  await file.h.pool.query(
    `INSERT INTO users (email, name, email_types) VALUES ('not-an-address', 'Broken', '{outreach}')`,
  );
  const outreach = await seedUsers(file.h.pool, 250, { from: 100_001, mixed: false });
  await file.h.pool.query(`UPDATE users SET email_types = '{outreach}' WHERE id > (SELECT id FROM users WHERE email = 'not-an-address')`);

  const campaignId = await file.h.campaigns.create({
    name: 'outreach with a bad address',
    type: 'outreach',
    content: { subject: 'Hello', text: 'Hello' },
    audience: { emailType: 'outreach' },
  });
  await file.h.campaigns.startSend(campaignId, { batchSize: 100 });
  const result = await file.h.campaigns.result(campaignId);

  // Ordered by user id, the bad address is recipient 1: batch 0 (recipients 1..100) fails.
  assert.deepEqual(result, { campaignId, status: 'sent', total: 251, sent: 151, failed: 100 });
  const ledger = await file.h.pool.query<{ batch_no: number; state: string; last_error: string | null }>(
    'SELECT batch_no, state, last_error FROM send_ledger WHERE campaign_id = $1 ORDER BY batch_no',
    [campaignId],
  );
  assert.deepEqual(ledger.rows.map((r) => [r.batch_no, r.state]), [[0, 'failed'], [1, 'accepted'], [2, 'accepted']]);
  assert.match(ledger.rows[0]?.last_error ?? '', /not a valid address/);
  const stats = await findCampaignStats(file.h.pool, campaignId);
  assert.deepEqual([stats?.sent, stats?.failed], [151, 100]);

  const report = deliveryReport(file.h.mailgun, campaignId, outreach.slice(99));
  assert.deepEqual([report.duplicates.length, report.missing.length, report.unexpected.length], [0, 0, 0]);
  const doc = (await file.h.firestore.firestore.collection('campaigns').doc(campaignId).get()).data();
  assert.equal((doc?.['progress'] as { failed?: number } | undefined)?.failed, 100);
});
