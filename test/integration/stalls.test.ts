import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PoolClient } from 'pg';
import { lifecycleWorkflowId, sendWorkflowId } from '../../common/campaign.js';
import { findCampaign } from '../../db/campaigns.js';
import { assertSendRecorded } from '../helpers/aurora.js';
import { deliveryReport } from '../helpers/delivery.js';
import { harnessForFile, waitFor, type ChildWorker } from '../helpers/harness.js';

/**
 * A worker killed anywhere must cost seconds, not minutes: every activity
 * heartbeats or has a short start-to-close timeout. Each test holds a row lock
 * the worker needs, so it is caught, for certain, inside one activity (the
 * audience snapshot, a status write, the final status write), kills it there
 * with SIGKILL, and reads from the workflow history how soon the activity's
 * next attempt started.
 */

const file = harnessForFile({ users: 3000, seed: { mixed: false }, worker: false });
/** Heartbeat timeout (10 s) or start-to-close (10 s), plus retry backoff and task dispatch. */
const RETRIED_WITHIN_MS = 30_000;

async function createCampaign(name: string, limit?: number): Promise<string> {
  return file.h.campaigns.create({
    name,
    type: 'newsletter',
    content: { subject: name, text: 'Hello' },
    audience: limit === undefined ? {} : { limit },
  });
}

/** Holds `SELECT ... FOR UPDATE` on the campaign row until released: writers of that row wait. */
async function lockCampaignRow(campaignId: string): Promise<{ release(): Promise<void> }> {
  const client: PoolClient = await file.h.pool.connect();
  await client.query('BEGIN');
  await client.query('SELECT id FROM campaigns WHERE id = $1 FOR UPDATE', [campaignId]);
  return {
    async release() {
      await client.query('COMMIT');
      client.release();
    },
  };
}

/** Waits until a worker's statement matching `pattern` is blocked on the campaign row. */
async function blockedOn(pattern: string): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await file.h.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE $1`,
        [`%${pattern}%`],
      );
      return (rows[0]?.n ?? 0) > 0;
    },
    { what: `a statement like "${pattern}" waiting on the lock` },
  );
}

interface Attempt {
  attempt: number;
  startedAt: number;
}

/** Every recorded start of `activityType` in a workflow's history (the send's unless told): the attempt that completed, and when it started. */
async function attemptsOf(campaignId: string, activityType: string, workflowId = sendWorkflowId(campaignId)): Promise<Attempt[]> {
  const history = await file.h.temporal.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Set<string>();
  const attempts: Attempt[] = [];
  for (const event of history.events ?? []) {
    const id = String(event.eventId);
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === activityType) scheduled.add(id);
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.has(String(started.scheduledEventId))) {
      const time = event.eventTime;
      attempts.push({ attempt: started.attempt ?? 1, startedAt: Number(time?.seconds ?? 0) * 1000 + Math.floor((time?.nanos ?? 0) / 1e6) });
    }
  }
  return attempts;
}

/** Kills the worker, starts another, releases the lock; returns when the kill happened. */
async function killThenRecover(worker: ChildWorker, lock: { release(): Promise<void> }): Promise<{ killedAt: number; next: ChildWorker }> {
  const killedAt = Date.now();
  await worker.kill();
  const next = await file.h.spawnWorker();
  await lock.release();
  return { killedAt, next };
}

async function assertRetriedSoon(campaignId: string, activityType: string, killedAt: number, workflowId?: string): Promise<void> {
  const attempts = await attemptsOf(campaignId, activityType, workflowId);
  const retried = attempts.filter((a) => a.attempt > 1);
  assert.ok(retried.length > 0, `${activityType} was retried after the kill: ${JSON.stringify(attempts)}`);
  for (const { attempt, startedAt } of retried) {
    const after = startedAt - killedAt;
    assert.ok(after < RETRIED_WITHIN_MS, `${activityType} attempt ${attempt} started ${after} ms after the kill`);
  }
}

function assertExactlyOnce(campaignId: string, recipients: number): void {
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles.slice(0, recipients));
  assert.deepEqual([report.duplicates.length, report.missing.length, report.delivered], [0, 0, recipients]);
}

test('killed during the audience snapshot: retried within seconds, everyone exactly once', async () => {
  const campaignId = await createCampaign('killed in snapshot');
  // The first snapshot page, once its recipients are in, waits for this row: the worker is caught inside it.
  const stats = await file.h.pool.connect();
  await stats.query('BEGIN');
  await stats.query('INSERT INTO campaign_stats (campaign_id) VALUES ($1)', [campaignId]);
  const lock = {
    async release() {
      await stats.query('COMMIT');
      stats.release();
    },
  };
  const worker = await file.h.spawnWorker();
  await file.h.campaigns.startSend(campaignId, { batchSize: 500 });
  // campaign_stats references the campaign row: the snapshot's FOR UPDATE of that row waits on the insert.
  await blockedOn('FOR UPDATE');
  const { killedAt, next } = await killThenRecover(worker, lock);
  try {
    const result = await file.h.campaigns.result(campaignId);
    assert.deepEqual(result, { campaignId, status: 'sent', total: 3000, sent: 3000, failed: 0, unknownBatches: [] });
  } finally {
    await next.stop();
  }
  assertExactlyOnce(campaignId, 3000);
  await assertRetriedSoon(campaignId, 'snapshotAudiencePage', killedAt);
});

test('killed during a status write: retried within seconds, everyone exactly once', async () => {
  const campaignId = await createCampaign('killed in status write');
  const worker = await file.h.spawnWorker();
  await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 1, ratePerSecond: 600 });
  await waitFor(async () => (await file.h.campaigns.progress(campaignId)).sent >= 500, { what: '500 sent' });
  const lock = await lockCampaignRow(campaignId);
  await file.h.campaigns.pause(campaignId); // its status write ('paused') now waits on the lock
  await blockedOn('UPDATE campaigns SET');
  const { killedAt, next } = await killThenRecover(worker, lock);
  try {
    await waitFor(async () => (await findCampaign(file.h.pool, campaignId))?.status === 'paused', { what: 'paused in Aurora' });
    await file.h.campaigns.resume(campaignId);
    const result = await file.h.campaigns.result(campaignId);
    assert.deepEqual(result, { campaignId, status: 'sent', total: 3000, sent: 3000, failed: 0, unknownBatches: [] });
    await assertSendRecorded(file.h.pool, campaignId);
  } finally {
    await next.stop();
  }
  assertExactlyOnce(campaignId, 3000);
  // The lifecycle writes the campaign's status, the send's phases too.
  await assertRetriedSoon(campaignId, 'setCampaignStatus', killedAt, lifecycleWorkflowId(campaignId));
  const status = (await findCampaign(file.h.pool, campaignId))?.status;
  assert.ok(['sent', 'tracking', 'analysed', 'archived'].includes(status ?? ''), `the late write of the dead worker did not win: ${status}`);
});

test('killed just before completion, in the final status write: retried within seconds, sent exactly once', async () => {
  const campaignId = await createCampaign('killed at the end', 400);
  const worker = await file.h.spawnWorker();
  const requests = file.h.mailgun.requests;
  file.h.mailgun.injectFaults({ kind: 'slow', delayMs: 1500 });
  await file.h.campaigns.startSend(campaignId, { batchSize: 1000 });
  await waitFor(() => file.h.mailgun.requests > requests, { what: 'the only batch to reach Mailgun' });
  const lock = await lockCampaignRow(campaignId); // the batch lands; the final 'sent' write then waits
  await blockedOn('UPDATE campaigns SET');
  assert.equal((await file.h.campaigns.progress(campaignId)).sent, 400, 'everything was sent before the kill');
  const { killedAt, next } = await killThenRecover(worker, lock);
  try {
    const result = await file.h.campaigns.result(campaignId);
    assert.deepEqual(result, { campaignId, status: 'sent', total: 400, sent: 400, failed: 0, unknownBatches: [] });
    await assertSendRecorded(file.h.pool, campaignId);
    // The lifecycle writes the final status; the send does not wait for it. Its retry is what this test is about.
    await waitFor(async () => (await attemptsOf(campaignId, 'setCampaignStatus', lifecycleWorkflowId(campaignId))).some((a) => a.attempt > 1), {
      what: 'the status write to be retried',
      timeoutMs: RETRIED_WITHIN_MS,
    });
  } finally {
    await next.stop();
  }
  assertExactlyOnce(campaignId, 400);
  await assertRetriedSoon(campaignId, 'setCampaignStatus', killedAt, lifecycleWorkflowId(campaignId));
  assert.ok(Date.now() - killedAt < 60_000, 'the campaign completed within a minute of the kill');
});

test('killed while reconciling with Mailgun’s logs: retried within seconds, every event counted once', async () => {
  const campaignId = await createCampaign('killed in reconciliation', 40);
  const worker = await file.h.spawnWorker();
  await file.h.campaigns.startSend(campaignId);
  await file.h.campaigns.result(campaignId);
  // Recording events always writes click_events: with it locked, the reconciliation is caught in its first page with news.
  const client = await file.h.pool.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE click_events IN EXCLUSIVE MODE');
  const lock = {
    async release() {
      await client.query('COMMIT');
      client.release();
    },
  };
  // No webhooks here: every event reaches Aurora through reconciliation.
  const recipients = file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId).map((m) => m.recipient);
  recipients.forEach((recipient, i) => {
    file.h.mailgun.recordEngagement({ recipient, event: 'delivered' });
    if (i % 2 === 0) file.h.mailgun.recordEngagement({ recipient, event: 'opened' });
    if (i % 5 === 0) file.h.mailgun.recordEngagement({ recipient, event: 'clicked', url: 'https://distronation.com/' });
  });
  // (pg_stat_activity keeps the first 1 kB of a statement: the recording statement's opening.)
  await blockedOn('INSERT INTO webhook_tokens');
  const { killedAt, next } = await killThenRecover(worker, lock);
  try {
    assert.equal((await file.h.campaigns.lifecycleResult(campaignId)).status, 'archived');
  } finally {
    await next.stop();
  }
  const { rows } = await file.h.pool.query<{ delivered: number; opened: number; clicked: number; events: number }>(
    `SELECT delivered, opened, clicked, (SELECT count(*)::int FROM mailgun_events WHERE campaign_id = $1) AS events
     FROM campaign_stats WHERE campaign_id = $1`,
    [campaignId],
  );
  assert.deepEqual(rows[0], { delivered: 40, opened: 20, clicked: 8, events: 68 });
  await assertRetriedSoon(campaignId, 'reconcileEvents', killedAt, lifecycleWorkflowId(campaignId));
});
