import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../../common/search-attributes.js';
import { ledgerSummary } from '../../db/ledger.js';
import { assertSendRecorded, restartPostgres, sentSoFar } from '../helpers/aurora.js';
import { deliveryReport } from '../helpers/delivery.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';
import { startTemporalDevServer } from '../../local-stack/temporal.js';

/**
 * PostgreSQL and the Temporal server are stopped mid-send and started again on
 * the same port and data: the campaign still reaches everyone exactly once.
 */

const dir = mkdtempSync(join(tmpdir(), 'campaign-restarts-'));
const restarted: Array<{ stop(): Promise<void> }> = [];
const file = harnessForFile({
  users: 8000,
  seed: { mixed: false },
  postgres: { dataDir: join(dir, 'pg'), persistent: true },
  temporal: { dbFilename: join(dir, 'temporal.db') },
});

after(async () => {
  for (const service of restarted) await service.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function sendAndWaitFor(name: string, sentAtLeast: number): Promise<string> {
  const campaignId = await file.h.campaigns.create({ name, type: 'newsletter', content: { subject: name, text: 'Hi' }, audience: {} });
  await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 2, ratePerSecond: 2000 });
  const sent = await waitFor(async () => {
    const now = await sentSoFar(file.h.pool, campaignId);
    return now >= sentAtLeast ? now : undefined;
  }, { what: `${sentAtLeast} sent` });
  assert.ok(sent < 8000, 'the restart lands mid-send');
  return campaignId;
}

async function assertEveryoneOnce(campaignId: string): Promise<void> {
  const result = await file.h.campaigns.result(campaignId);
  assert.deepEqual(result, { campaignId, status: 'sent', total: 8000, sent: 8000, failed: 0, unknownBatches: [] });
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
  assert.equal(report.duplicates.length, 0, `duplicates: ${report.duplicates.slice(0, 5).join(', ')}`);
  assert.equal(report.missing.length, 0, `missing: ${report.missing.slice(0, 5).join(', ')}`);
  assert.deepEqual(await ledgerSummary(file.h.pool, campaignId), [{ state: 'accepted', parts: 80, recipients: 8000 }]);
  await assertSendRecorded(file.h.pool, campaignId);
}

test('PostgreSQL stopped for two seconds mid-send and started again', async () => {
  const campaignId = await sendAndWaitFor('postgres restart', 1500);
  restarted.push(await restartPostgres(file.h.stack.postgres, 2000));
  await assertEveryoneOnce(campaignId);
});

test('the Temporal server stopped mid-send and started again on its database', async () => {
  const campaignId = await sendAndWaitFor('temporal restart', 1500);
  const port = Number(file.h.stack.temporal.address.split(':')[1]);
  await file.h.stack.temporal.stop();
  await sleep(1000);
  restarted.push(
    await startTemporalDevServer({
      port,
      dbFilename: join(dir, 'temporal.db'),
      searchAttributes: CAMPAIGN_SEARCH_ATTRIBUTES.map((attr) => ({ name: attr.name, type: attr.type })),
    }),
  );
  await assertEveryoneOnce(campaignId);
});
