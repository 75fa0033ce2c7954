import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ledgerSummary } from '../../db/ledger.js';
import { assertSendRecorded, sentSoFar } from '../helpers/aurora.js';
import { deliveryReport } from '../helpers/delivery.js';
import { waitFor, harnessForFile } from '../helpers/harness.js';

/**
 * The worker runs as its own process and dies for real: SIGKILL, no shutdown
 * hooks, batches in flight. Mailgun answers slowly, so each kill lands while
 * batches are in Mailgun's hands, and some of those are accepted after the
 * worker is gone: the ambiguous case the send ledger and the events API resolve.
 */

const file = harnessForFile({ users: 6000, seed: { mixed: false }, worker: false });

async function createCampaign(name: string): Promise<string> {
  return file.h.campaigns.create({ name, type: 'financial', content: { subject: name, text: 'Your statement' }, audience: {} });
}

test('a worker killed twice mid-send (SIGKILL) and restarted: 0 duplicates, 0 missing', async () => {
  file.h.mailgun.setRandomFaults({ slow: 0.5, slowDelayMs: 400, seed: 11 });
  try {
    const campaignId = await createCampaign('crash');
    let worker = await file.h.spawnWorker();
    await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 4, ratePerSecond: 2000 });

    for (const threshold of [1200, 3600]) {
      await waitFor(async () => (await sentSoFar(file.h.pool, campaignId)) >= threshold, { what: `${threshold} sent` });
      await worker.kill();
      assert.equal(worker.process.signalCode, 'SIGKILL');
      worker = await file.h.spawnWorker();
    }
    const result = await file.h.campaigns.result(campaignId);
    await worker.stop();

    assert.deepEqual(result, { campaignId, status: 'sent', total: 6000, sent: 6000, failed: 0, unknownBatches: [] });
    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
    assert.equal(report.duplicates.length, 0, `duplicates: ${report.duplicates.slice(0, 5).join(', ')}`);
    assert.equal(report.missing.length, 0, `missing: ${report.missing.slice(0, 5).join(', ')}`);
    assert.equal(report.delivered, 6000);
    assert.deepEqual(await ledgerSummary(file.h.pool, campaignId), [{ state: 'accepted', parts: 60, recipients: 6000 }]);
    assert.equal(await sentSoFar(file.h.pool, campaignId), 6000);
    // The kills interrupted batches in Mailgun's hands; their next attempt asked the events API first.
    const { rows } = await file.h.pool.query<{ checked: number }>(
      'SELECT count(*)::int AS checked FROM send_ledger WHERE campaign_id = $1 AND outcome_checks > 0',
      [campaignId],
    );
    assert.ok((rows[0]?.checked ?? 0) > 0, 'at least one batch was interrupted by a kill and resolved');
  } finally {
    file.h.mailgun.setRandomFaults(null);
  }
});

test('SIGTERM shuts the worker down gracefully (exit 0) and another worker finishes the send', async () => {
  const campaignId = await createCampaign('graceful');
  const first = await file.h.spawnWorker();
  await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 2, ratePerSecond: 1500 });
  await waitFor(async () => (await sentSoFar(file.h.pool, campaignId)) >= 500, { what: '500 sent' });

  await first.stop();
  assert.equal(first.process.exitCode, 0, first.output().slice(-2000));
  const stalled = await sentSoFar(file.h.pool, campaignId);
  assert.ok(stalled < 6000, 'the send was still running when the worker stopped');

  const second = await file.h.spawnWorker();
  const result = await file.h.campaigns.result(campaignId);
  assert.equal(result.sent, 6000);
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
  assert.deepEqual([report.duplicates.length, report.missing.length], [0, 0]);
  await assertSendRecorded(file.h.pool, campaignId); // the lifecycle writes it, on a running worker
  await second.stop();
});

test('paused while batches are in Mailgun’s hands, the worker killed before they land: resumed, everyone exactly once', async () => {
  // Mailgun answers every batch after 1.5 s: the pause asks the in-flight batches to stop, they cannot (they
  // have claimed their batch), and the kill loses them. Temporal does not retry an activity whose cancellation
  // was asked for; the send withdraws them and the ledger, on resume, says they need their outcome proven.
  file.h.mailgun.setRandomFaults({ slow: 1, slowDelayMs: 1500, seed: 5 });
  try {
    const campaignId = await createCampaign('paused, then killed');
    let worker = await file.h.spawnWorker();
    await file.h.campaigns.startSend(campaignId, { batchSize: 500, window: 2 });
    await waitFor(async () => {
      const { rows } = await file.h.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM send_ledger WHERE campaign_id = $1 AND state = 'sending'`,
        [campaignId],
      );
      return (rows[0]?.n ?? 0) === 2;
    }, { intervalMs: 20, what: 'two batches in Mailgun’s hands' });
    await file.h.campaigns.pause(campaignId);
    await worker.kill();
    worker = await file.h.spawnWorker();
    await waitFor(async () => (await file.h.campaigns.progress(campaignId, { live: true })).inFlight === 0, {
      what: 'the lost batches to leave the window',
    });
    await file.h.campaigns.resume(campaignId);
    const result = await file.h.campaigns.result(campaignId);
    await worker.stop();
    assert.deepEqual(result, { campaignId, status: 'sent', total: 6000, sent: 6000, failed: 0, unknownBatches: [] });
    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
    assert.deepEqual([report.duplicates.length, report.missing.length], [0, 0]);
  } finally {
    file.h.mailgun.setRandomFaults(null);
  }
});
