import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendWorkflowId } from '../../common/campaign.js';
import { findCampaignStats } from '../../db/campaigns.js';
import { ledgerSummary } from '../../db/ledger.js';
import { deliveryReport } from '../helpers/delivery.js';
import { harnessForFile } from '../helpers/harness.js';

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

    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles, 'financial');
    assert.ok(report.expected > 5000);
    assert.deepEqual(result, { campaignId, status: 'sent', total: report.expected, sent: report.expected, failed: 0, unknownBatches: [] });
    assert.equal(report.duplicates.length, 0, `duplicates: ${report.duplicates.slice(0, 5).join(', ')}`);
    assert.equal(report.missing.length, 0, `missing: ${report.missing.slice(0, 5).join(', ')}`);
    assert.equal(report.unexpected.length, 0);

    const faults = file.h.mailgun.faultsInjected;
    assert.ok(faults['rate-limit'] > 0 && faults['server-error'] > 0 && faults['accept-then-drop'] > 0, JSON.stringify(faults));
    assert.deepEqual(await ledgerSummary(file.h.pool, campaignId), [
      { state: 'accepted', parts: Math.ceil(report.expected / 100), recipients: report.expected },
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
