import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Pool } from 'pg';
import { planBatch } from '../../common/batches.js';
import { findCampaignStats, insertCampaign, snapshotAudience } from '../../db/campaigns.js';
import * as ledger from '../../db/ledger.js';
import { migrate } from '../../db/migrate.js';
import { createPool } from '../../db/pool.js';
import { startPostgres, type PostgresStandin } from '../../local-stack/postgres.js';
import { seedUsers } from '../../local-stack/seed.js';

/** The send ledger's transitions against a real PostgreSQL: each batch is counted once, and only one attempt may send. */

let postgres: PostgresStandin;
let pool: Pool;
let campaignId: string;
const batch = (n: number) => planBatch(1000, 100, n);

before(async () => {
  postgres = await startPostgres();
  await migrate(postgres.url);
  pool = createPool(postgres.url, 4);
  await seedUsers(pool, 1000, { mixed: false });
  campaignId = await insertCampaign(pool, { name: 'ledger', type: 'newsletter', content: { subject: 's', text: 't' }, audience: {} });
  assert.equal(await snapshotAudience(pool, campaignId, {}), 1000);
});

after(async () => {
  await pool?.end();
  await postgres?.stop();
});

test('the audience snapshot is taken once', async () => {
  await seedUsers(pool, 10, { from: 5000, mixed: false });
  assert.equal(await snapshotAudience(pool, campaignId, {}), 1000, 'new users do not join a frozen audience');
});

test('two attempts that read the same row: only one may claim the send', async () => {
  const seen = await ledger.ensureLedgerRow(pool, campaignId, batch(0));
  assert.equal(seen.state, 'pending');
  const [a, b] = await Promise.all([
    ledger.markSending(pool, campaignId, 0, seen),
    ledger.markSending(pool, campaignId, 0, seen),
  ]);
  assert.deepEqual([a, b].sort(), [1, undefined].sort());
  // A later attempt that read the 'sending' row may claim it (after asking Mailgun).
  const now = await ledger.ensureLedgerRow(pool, campaignId, batch(0));
  assert.equal(await ledger.markSending(pool, campaignId, 0, now), 2);
});

test('acceptance is counted in campaign_stats exactly once, and is final', async () => {
  const seen = await ledger.ensureLedgerRow(pool, campaignId, batch(1));
  await ledger.markSending(pool, campaignId, 1, seen);
  await ledger.markAccepted(pool, campaignId, 1, 'msg-1@mg');
  await ledger.markAccepted(pool, campaignId, 1, 'msg-1-again@mg');
  await ledger.markFailed(pool, campaignId, 1, 'late failure');
  const row = await ledger.ensureLedgerRow(pool, campaignId, batch(1));
  assert.deepEqual([row.state, row.mailgun_message_id, row.attempts], ['accepted', 'msg-1@mg', 1]);
  assert.equal((await findCampaignStats(pool, campaignId))?.sent, 100);
  assert.equal(await ledger.markSending(pool, campaignId, 1, row), undefined, 'an accepted batch is never sent again');
});

test('a failed batch is counted once and is final', async () => {
  const seen = await ledger.ensureLedgerRow(pool, campaignId, batch(2));
  await ledger.markSending(pool, campaignId, 2, seen);
  await ledger.markFailed(pool, campaignId, 2, 'Mailgun 400: invalid address');
  await ledger.markFailed(pool, campaignId, 2, 'again');
  await ledger.markAccepted(pool, campaignId, 2, 'late@mg');
  const row = await ledger.ensureLedgerRow(pool, campaignId, batch(2));
  assert.deepEqual([row.state, row.last_error], ['failed', 'Mailgun 400: invalid address']);
  assert.equal((await findCampaignStats(pool, campaignId))?.failed, 100);
});

test('only the attempt that set sending may mark the batch not sent', async () => {
  const seen = await ledger.ensureLedgerRow(pool, campaignId, batch(3));
  const first = await ledger.markSending(pool, campaignId, 3, seen);
  const again = await ledger.markSending(pool, campaignId, 3, await ledger.ensureLedgerRow(pool, campaignId, batch(3)));
  assert.deepEqual([first, again], [1, 2]);
  await ledger.markNotSent(pool, campaignId, 3, '429 for attempt 1', 500, 1);
  assert.equal((await ledger.ensureLedgerRow(pool, campaignId, batch(3))).state, 'sending', 'attempt 2 is still sending');
  await ledger.markNotSent(pool, campaignId, 3, '429 for attempt 2', 700, 2);
  const row = await ledger.ensureLedgerRow(pool, campaignId, batch(3));
  assert.deepEqual([row.state, row.rate_limited_ms], ['pending', 700]);
});

test('a batch number always covers the same recipients', async () => {
  await assert.rejects(
    ledger.ensureLedgerRow(pool, campaignId, planBatch(1000, 50, 0)),
    /covers 1\.\.100, not 1\.\.50/,
  );
});
