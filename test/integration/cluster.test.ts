import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createPool } from '../../db/pool.js';
import { ledgerSummary } from '../../db/ledger.js';
import type { ClusterService } from '../../local-stack/temporal-cluster.js';
import { sentSoFar } from '../helpers/aurora.js';
import { deliveryReport } from '../helpers/delivery.js';
import { harnessForFile, waitFor, type ChildWorker } from '../helpers/harness.js';

/**
 * The pipeline on a self-hosted Temporal cluster (the compose file's release, built by
 * `npm run setup:temporal-server`): frontend, history (4 shards), matching and worker as
 * processes of their own on PostgreSQL. Two campaign workers share the send; the history and
 * matching services are each killed mid-send and started again, and one campaign worker is
 * killed and replaced. The smoke of `npm run soak:cluster`.
 */

const RECIPIENTS = 3000;
const file = harnessForFile({ temporalCluster: { historyShards: 4 }, users: RECIPIENTS, seed: { mixed: false }, worker: false });

describe('a self-hosted Temporal cluster', () => {
  test('a send survives its history and matching services and a campaign worker being killed: everyone exactly once', async () => {
    const cluster = file.h.stack.cluster ?? assert.fail('the stack runs a cluster');
    const workers: ChildWorker[] = [await file.h.spawnWorker(), await file.h.spawnWorker()];
    const campaignId = await file.h.campaigns.create({ name: 'On the cluster', type: 'newsletter', content: { subject: 'News', text: 'Hello' }, audience: {} });
    // 3,000 at 300 a second: ten seconds to be killed in.
    await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 4, ratePerSecond: 300 });

    const outage = async (service: ClusterService, atSent: number) => {
      await waitFor(async () => (await sentSoFar(file.h.pool, campaignId)) >= atSent, { what: `${atSent} sent`, timeoutMs: 120_000 });
      await cluster.kill(service);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await cluster.start(service);
    };
    await outage('history', 600);
    await outage('matching', 1500);
    await waitFor(async () => (await sentSoFar(file.h.pool, campaignId)) >= 2100, { what: '2100 sent', timeoutMs: 120_000 });
    await workers[0]?.kill();
    workers[0] = await file.h.spawnWorker();

    const result = await file.h.campaigns.result(campaignId);
    await Promise.all(workers.map((w) => w.stop()));
    assert.deepEqual(result, { campaignId, status: 'sent', total: RECIPIENTS, sent: RECIPIENTS, failed: 0, unknownBatches: [] });
    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
    assert.equal(report.duplicates.length, 0, `duplicates: ${report.duplicates.slice(0, 5).join(', ')}`);
    assert.equal(report.missing.length, 0, `missing: ${report.missing.slice(0, 5).join(', ')}`);
    assert.deepEqual(await ledgerSummary(file.h.pool, campaignId), [{ state: 'accepted', parts: RECIPIENTS / 100, recipients: RECIPIENTS }]);
    // Temporal kept it all in its PostgreSQL: 4 history shards, the campaign's runs among the executions.
    const url = new URL(cluster.postgres.url);
    url.pathname = '/temporal';
    const temporalDb = createPool(url.toString(), 1);
    try {
      const shards = await temporalDb.query<{ n: number }>('SELECT count(*)::int AS n FROM shards');
      assert.equal(shards.rows[0]?.n, 4);
      const executions = await temporalDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM current_executions WHERE workflow_id LIKE '%-' || $1`, [campaignId]);
      assert.ok((executions.rows[0]?.n ?? 0) >= 2, 'the lifecycle and send runs of the campaign');
    } finally {
      await temporalDb.end();
    }
  });
});
