import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Pool } from 'pg';
import { planBatch, splitPart, wholeBatch, type BatchPart } from '../../common/batches.js';
import { failedRecipients, failRecipients, snapshotAudience, snapshotAudienceStep } from '../../db/audience.js';
import { findCampaign, findCampaignStats, insertCampaign, updateCampaignStatus } from '../../db/campaigns.js';
import * as ledger from '../../db/ledger.js';
import { migrate } from '../../db/migrate.js';
import { createPool } from '../../db/pool.js';
import { startPostgres, type PostgresStandin } from '../../local-stack/postgres.js';
import { seedUsers } from '../../local-stack/seed.js';

/** The send ledger's transitions against a real PostgreSQL: each part is counted once, and only one attempt may send. */

let postgres: PostgresStandin;
let pool: Pool;
let campaignId: string;
const whole = (n: number): BatchPart => wholeBatch(planBatch(1000, 100, n));

async function claimed(part: BatchPart, count = 100): Promise<number> {
  const row = await ledger.ensurePart(pool, campaignId, part);
  const attempt = await ledger.claim(pool, campaignId, row, count);
  assert.ok(attempt !== undefined);
  return attempt;
}

async function stateOf(part: BatchPart): Promise<ledger.LedgerRow> {
  return ledger.ensurePart(pool, campaignId, part);
}

before(async () => {
  postgres = await startPostgres();
  await migrate(postgres.url);
  pool = createPool(postgres.url, 4);
  await seedUsers(pool, 1000, { mixed: false });
  campaignId = (await insertCampaign(pool, { name: 'ledger', type: 'newsletter', content: { subject: 's', text: 't' }, audience: {} })).id;
  assert.equal(await snapshotAudience(pool, campaignId, {}, { pageSize: 300 }), 1000);
});

after(async () => {
  await pool?.end();
  await postgres?.stop();
});

test('the audience snapshot is taken once, in pages, and an interrupted one resumes where it stopped', async () => {
  await seedUsers(pool, 10, { from: 5000, mixed: false });
  assert.equal(await snapshotAudience(pool, campaignId, {}), 1000, 'new users do not join a frozen audience');

  const { id: other } = await insertCampaign(pool, { name: 'paged', type: 'newsletter', audience: { limit: 450 } });
  assert.deepEqual(await snapshotAudienceStep(pool, other, { limit: 450 }, 200), { frozen: 200, complete: false, added: 200 });
  assert.equal((await findCampaignStats(pool, other))?.total, 200, 'stats exist from the first page, for batches sent meanwhile');
  // The "crash": a new attempt starts from scratch and continues from the last committed page.
  const pages: number[] = [];
  assert.equal(await snapshotAudience(pool, other, { limit: 450 }, { pageSize: 200, onPage: (n) => pages.push(n) }), 450);
  assert.deepEqual(pages, [400]);
  const { rows } = await pool.query<{ n: number; distinct_users: number; max: number }>(
    'SELECT count(*)::int AS n, count(DISTINCT user_id)::int AS distinct_users, max(ordinal) AS max FROM campaign_recipients WHERE campaign_id = $1',
    [other],
  );
  assert.deepEqual(rows[0], { n: 450, distinct_users: 450, max: 450 });
  assert.equal((await findCampaign(pool, other))?.totalRecipients, 450);
});

test('two attempts that read the same pending part: only one may claim the send', async () => {
  const seen = await ledger.ensurePart(pool, campaignId, whole(0));
  assert.equal(seen.state, 'pending');
  const [a, b] = await Promise.all([ledger.claim(pool, campaignId, seen, 100), ledger.claim(pool, campaignId, seen, 100)]);
  assert.deepEqual([a, b].sort(), [1, undefined].sort());
  // A part whose outcome is unknown is never claimed again until it is proven unsent.
  assert.equal(await ledger.claim(pool, campaignId, await stateOf(whole(0)), 100), undefined);
  await ledger.markNotSent(pool, campaignId, whole(0), 'proven not accepted', 0, 1);
  assert.equal(await ledger.claim(pool, campaignId, await stateOf(whole(0)), 100), 2);
});

test('acceptance is counted in campaign_stats exactly once, and is final', async () => {
  await claimed(whole(1), 98);
  await ledger.markAccepted(pool, campaignId, whole(1), 'msg-1@mg');
  await ledger.markAccepted(pool, campaignId, whole(1), 'msg-1-again@mg');
  await ledger.markFailed(pool, campaignId, whole(1), 'late failure', false);
  const row = await stateOf(whole(1));
  assert.deepEqual([row.state, row.mailgun_message_id, row.attempts, row.message_count], ['accepted', 'msg-1@mg', 1, 98]);
  assert.equal((await findCampaignStats(pool, campaignId))?.sent, 98, 'the message went to 98 of the 100');
  assert.equal(await ledger.claim(pool, campaignId, row, 100), undefined, 'an accepted part is never sent again');
});

test('a failed part fails its recipients once, with the reason, and is final', async () => {
  await claimed(whole(2));
  await ledger.markFailed(pool, campaignId, whole(2), 'Mailgun 400: from parameter is missing', false);
  await ledger.markFailed(pool, campaignId, whole(2), 'again', false);
  await ledger.markAccepted(pool, campaignId, whole(2), 'late@mg');
  const row = await stateOf(whole(2));
  assert.deepEqual([row.state, row.last_error], ['failed', 'Mailgun 400: from parameter is missing']);
  assert.equal((await findCampaignStats(pool, campaignId))?.failed, 100);
  const failed = await failedRecipients(pool, campaignId, 1000);
  assert.equal(failed.length, 100);
  assert.ok(failed.every((r) => r.reason === 'Mailgun 400: from parameter is missing'));
});

test('only the attempt that set sending may mark the part not sent', async () => {
  const first = await claimed(whole(3));
  await ledger.markNotSent(pool, campaignId, whole(3), '429 for attempt 1', 500, 1);
  const second = await claimed(whole(3));
  assert.deepEqual([first, second], [1, 2]);
  await ledger.markNotSent(pool, campaignId, whole(3), 'stale 429 for attempt 1', 900, 1);
  assert.equal((await stateOf(whole(3))).state, 'sending', 'attempt 2 is still sending');
  await ledger.markNotSent(pool, campaignId, whole(3), '429 for attempt 2', 700, 2);
  const row = await stateOf(whole(3));
  assert.deepEqual([row.state, row.rate_limited_ms], ['pending', 1200]);
});

test('a refused part splits into its halves in one step, and only for the attempt that was refused', async () => {
  const part = whole(4);
  const attempt = await claimed(part);
  const halves = splitPart(part, Array.from({ length: 100 }, (_, i) => 401 + i));
  assert.equal(await ledger.split(pool, campaignId, part, attempt + 1, 'stale', halves), false);
  assert.equal(await ledger.split(pool, campaignId, part, attempt, 'Mailgun 400: to parameter is not a valid address', halves), true);
  assert.equal(await ledger.split(pool, campaignId, part, attempt, 'again', halves), false);
  const { rows } = await ledger.batchParts(pool, campaignId, 4);
  assert.deepEqual(
    rows.map((r) => [r.part, r.parent_part, r.state, r.first_ordinal, r.last_ordinal]),
    [
      ['', null, 'split', 401, 500],
      ['401-450', '', 'pending', 401, 450],
      ['451-500', '', 'pending', 451, 500],
    ],
  );
  const status = await ledger.batchStatus(pool, campaignId, planBatch(1000, 100, 4));
  assert.deepEqual([status.pendingParts, status.sendingParts, status.sent], [2, 0, 0]);
});

test('an unknown part waits for an operator, who settles it either way', async () => {
  const attempt = await claimed(whole(5));
  await ledger.markUnknown(pool, campaignId, whole(5), attempt, 'no proof in time');
  assert.equal((await ledger.batchStatus(pool, campaignId, planBatch(1000, 100, 5))).unknownParts, 1);
  const sentBefore = (await findCampaignStats(pool, campaignId))?.sent ?? 0;
  await ledger.resolveUnknown(pool, campaignId, 5, 'accepted');
  const row = await stateOf(whole(5));
  assert.equal(row.state, 'accepted');
  assert.equal((await findCampaignStats(pool, campaignId))?.sent, sentBefore + 100);

  const again = await claimed(whole(6));
  await ledger.markUnknown(pool, campaignId, whole(6), again, 'no proof in time');
  await ledger.resolveUnknown(pool, campaignId, 6, 'resend');
  assert.equal((await stateOf(whole(6))).state, 'pending');
});

test('recipients are failed and suppressed once, however often it is recorded', async () => {
  const before = (await findCampaignStats(pool, campaignId))?.failed ?? 0;
  assert.equal(await failRecipients(pool, campaignId, [701, 702], 'invalid address: no @', true), 2);
  assert.equal(await failRecipients(pool, campaignId, [701, 702, 703], 'invalid address: no @', true), 1);
  assert.equal((await findCampaignStats(pool, campaignId))?.failed, before + 3);
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM users u JOIN campaign_recipients r ON r.user_id = u.id
     WHERE r.campaign_id = $1 AND r.ordinal IN (701, 702, 703) AND u.suppressed_at IS NOT NULL`,
    [campaignId],
  );
  assert.equal(rows[0]?.n, 3);
});

test('a status write older than the last one applied changes nothing', async () => {
  assert.deepEqual(await updateCampaignStatus(pool, campaignId, 'sending', 2), { found: true, updated: true });
  assert.deepEqual(await updateCampaignStatus(pool, campaignId, 'paused', 1), { found: true, updated: false });
  assert.equal((await findCampaign(pool, campaignId))?.status, 'sending');
  assert.deepEqual(await updateCampaignStatus(pool, '999999', 'sent', 3), { found: false, updated: false });
});

test('a batch number always covers the same recipients', async () => {
  await assert.rejects(ledger.ensurePart(pool, campaignId, wholeBatch(planBatch(1000, 50, 0))), /covers 1\.\.100, not 1\.\.50/);
});
