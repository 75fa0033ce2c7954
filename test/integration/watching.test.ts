import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { sendWorkflowId, type SendProgress } from '../../common/campaign.js';
import { ledgerSummary } from '../../db/ledger.js';
import { pauseSendSignal, progressQuery, resumeSendSignal } from '../../workflows/campaign-send-api.js';
import { sentSoFar } from '../helpers/aurora.js';
import { deliveryReport } from '../helpers/delivery.js';
import { harnessForFile, waitFor, type ChildWorker } from '../helpers/harness.js';

/**
 * Watching a campaign must not change its fate. Operators and the CRM query a
 * send while it runs; when the worker that has it cached dies, the server
 * hands such a query to another worker as a task of its own, with the history
 * as it is then. If an event arrived meanwhile (say, an activity another
 * worker completed), that worker runs the workflow's code for it inside the
 * query task, at the workflow time of the dead worker's last task, and sends
 * the commands it made with the next real task (sdk-core in Temporal's
 * TypeScript SDK 1.24; see README, "What a watcher costs"). Replay runs the same
 * code at the real task's time: a workflow whose commands depend on the clock
 * no longer replays. These tests provoke exactly that, and the file's harness
 * then replays every history the server holds.
 */

const file = harnessForFile({ users: 3000, seed: { mixed: false }, worker: false });

async function createCampaign(name: string, limit?: number): Promise<string> {
  return file.h.campaigns.create({
    name,
    type: 'newsletter',
    content: { subject: name, text: 'Hello %recipient.name%' },
    audience: limit === undefined ? {} : { limit },
  });
}

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/**
 * A query sent just after a worker died may be handed to that worker's last poll before the server has noticed
 * its connection closed; the server then answers CANCELLED ("context canceled"), as it would to the CRM, which
 * asks again. So does this: the query that then waits on the dead worker's sticky queue is the one the tests need.
 */
const GRPC_CANCELLED = 1;

async function queryAfterKill(handle: WorkflowHandle): Promise<SendProgress> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await handle.query(progressQuery);
    } catch (error) {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      if (code !== GRPC_CANCELLED || attempt === 3) throw error;
    }
  }
}

const startedBy = (event: HistoryEvent): string | undefined => event.workflowTaskStartedEventAttributes?.identity ?? undefined;
const eventTime = (event: HistoryEvent): number =>
  Number(event.eventTime?.seconds ?? 0) * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);

/** The identity of the worker that processed the send's latest workflow task: the one that has it cached. */
async function cachedBy(handle: WorkflowHandle): Promise<string | undefined> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.map(startedBy).filter((identity) => identity !== undefined).at(-1);
}

/**
 * Waits for the moment the mechanism needs: a batch in Mailgun's hands (its part claimed, 'sending') and no
 * workflow task pending, so that a query sent now goes to the worker that has the send cached, not with a task.
 */
async function quietWhileInMailgun(handle: WorkflowHandle, campaignId: string): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await file.h.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM send_ledger WHERE campaign_id = $1 AND state = 'sending'`,
        [campaignId],
      );
      if ((rows[0]?.n ?? 0) === 0) return false;
      const { raw } = await handle.describe();
      return !raw.pendingWorkflowTask;
    },
    { intervalMs: 20, what: 'a batch in Mailgun’s hands and no workflow task pending' },
  );
}

test('a worker that answers a query for a send it never ran, then takes the send over after the sticky queue times out: the history replays', async () => {
  // Slow Mailgun answers and a campaign ceiling (one batch every 5 s) leave the send idle between events.
  file.h.mailgun.setRandomFaults({ slow: 1, slowDelayMs: 2000, seed: 3 });
  try {
    const campaignId = await createCampaign('watched across a kill', 100);
    const owner = await file.h.spawnWorker();
    await file.h.campaigns.startSend(campaignId, { batchSize: 10, window: 2, ratePerSecond: 2 });
    const handle = file.h.temporal.workflow.getHandle(sendWorkflowId(campaignId));
    await waitFor(async () => (await cachedBy(handle))?.startsWith(`${owner.process.pid}@`), { what: 'the first worker to run the send' });
    await quietWhileInMailgun(handle, campaignId);
    await owner.kill();

    // The query waits on the dead worker's sticky queue (up to its 10 s schedule-to-start timeout), then goes
    // to a worker that has never run the send. Whatever happens meanwhile reaches that worker with the query:
    // on the send engine before this one the dead worker's pacing timer fired, and the worker ran the loop for
    // it inside the query task at the dead worker's clock; that history did not replay (3 runs of 3).
    const query = queryAfterKill(handle);
    query.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    const second = await file.h.startWorker();
    const other = `${process.pid}@${hostname()}`;
    const answered = await query;
    const answeredAt = Date.now();
    assert.equal(answered.campaignId, campaignId);

    const result = await file.h.campaigns.result(campaignId);
    assert.deepEqual([result.status, result.sent, result.failed], ['sent', 100, 0]);
    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles.slice(0, 100));
    assert.deepEqual([report.duplicates.length, report.missing.length], [0, 0]);

    // The mechanism happened: the other worker answered the query before it had run any workflow task of the
    // send (the server gave it the query as a task of its own), and then took the send over.
    const events = (await handle.fetchHistory()).events ?? [];
    const takenOver = events.find((e) => startedBy(e) === other);
    assert.ok(takenOver, 'the other worker took the send over');
    assert.ok(answeredAt <= eventTime(takenOver) + 1000, 'the query was answered before the other worker ran a task of the send');

    await second.stop();
    assert.ok((await file.h.replayAll()) > 0, 'every history on the server replays');
  } finally {
    file.h.mailgun.setRandomFaults(null);
  }
});

/**
 * One run of the interleaving below; says whether it happened (both signals reached one task, the resume's
 * by way of the dead worker's sticky queue). Whether it did or not, every recipient got the send once.
 */
async function oneTaskInTwoParts(attempt: number): Promise<boolean> {
  const campaignId = await createCampaign(`one task in two parts #${attempt}`, 300);
  const owner = await file.h.spawnWorker();
  // One batch every half second: a long send, paused at once and left idle.
  await file.h.campaigns.startSend(campaignId, { batchSize: 10, window: 3, ratePerSecond: 20 });
  const handle = file.h.temporal.workflow.getHandle(sendWorkflowId(campaignId));
  await waitFor(async () => (await sentSoFar(file.h.pool, campaignId)) >= 20, { what: 'a few batches' });
  await file.h.campaigns.pause(campaignId);
  await waitFor(async () => {
    const progress = await file.h.campaigns.progress(campaignId, { live: true });
    const { raw } = await handle.describe();
    return progress.inFlight === 0 && !raw.pendingWorkflowTask && (raw.pendingActivities?.length ?? 0) === 0;
  }, { what: 'the paused send to be idle' });
  // A pause of a paused send changes nothing, but its task has the worker poll its sticky queue afresh: the server
  // takes a sticky queue polled in the last 10 s for alive, and the query must wait on it.
  await handle.signal(pauseSendSignal, {});
  await waitFor(async () => !(await handle.describe()).raw.pendingWorkflowTask, { intervalMs: 20, what: 'the signal’s task done' });
  await owner.kill();

  // The query waits on the dead worker's sticky queue for 10 s. A resume signal arrives meanwhile: the query
  // reaches the next worker with it, and that worker reacts to it inside the query task. A pause signal then
  // arrives before the task the resume made has left the dead worker's sticky queue (10 s after the resume):
  // live, the worker reacts to it in a second activation; on replay both come in one.
  const queriedAt = Date.now();
  const query = queryAfterKill(handle);
  query.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await handle.signal(resumeSendSignal, {});
  const second = await file.h.startWorker();
  try {
    const answered = await query;
    assert.equal(answered.paused, false, 'the worker reacted to the resume inside the query task');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, queriedAt + 11_500 - Date.now())));
    await handle.signal(pauseSendSignal, {});

    await waitFor(async () => (await file.h.campaigns.progress(campaignId, { live: true })).paused, { what: 'the pause to take' });
    await file.h.campaigns.resume(campaignId);
    const result = await file.h.campaigns.result(campaignId);
    assert.deepEqual([result.status, result.sent, result.failed], ['sent', 300, 0]);
    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles.slice(0, 300));
    assert.deepEqual([report.duplicates.length, report.missing.length], [0, 0]);
    // Both signals reached the one workflow task the worker then completed, after the dead worker's sticky queue timed out.
    const events = (await handle.fetchHistory()).events ?? [];
    const signaled = events.flatMap((e, i) => (e.workflowExecutionSignaledEventAttributes ? [i] : []));
    const [resumed, paused] = signaled.slice(-2) as [number, number];
    const between = events.slice(resumed, paused);
    // On a loaded machine the server may give up on the dead worker's sticky queue sooner: then the interleaving did not happen.
    if (between.some((e) => e.workflowTaskStartedEventAttributes)) return false;
    assert.ok(between.some((e) => e.workflowTaskScheduledEventAttributes?.taskQueue?.kind === proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_STICKY), 'the resume’s task went to the dead worker’s sticky queue');
    assert.equal(startedBy(events.slice(paused).find((e) => e.workflowTaskStartedEventAttributes) ?? {}), `${process.pid}@${hostname()}`);
    return true;
  } finally {
    await second.stop();
  }
}

test('a query that reaches a worker with one event of a task, and a second event after: the task’s commands are the same on replay', async () => {
  let happened = false;
  for (let attempt = 1; attempt <= 3 && !happened; attempt++) happened = await oneTaskInTwoParts(attempt);
  assert.ok(happened, 'in three tries, both signals never reached one task (a workflow task started between them every time)');
  assert.ok((await file.h.replayAll()) > 0, 'every history on the server replays');
});

test('a send whose worker is killed 3 times while progress is queried every 200–500 ms: everyone once, every history replays', async () => {
  file.h.mailgun.setRandomFaults({ slow: 0.5, slowDelayMs: 300, seed: 17 });
  const campaignId = await createCampaign('watched through kills');
  let worker: ChildWorker = await file.h.spawnWorker();
  await file.h.campaigns.startSend(campaignId, { batchSize: 50, window: 4 });
  const handle = file.h.temporal.workflow.getHandle(sendWorkflowId(campaignId));

  // The watcher: what `campaign progress --live` and the CRM's dashboard do, as fast as a person refreshes.
  let watching = true;
  let answers = 0;
  const intervals = [200, 350, 500];
  const watcher = (async () => {
    for (let i = 0; watching; i++) {
      await handle.query(progressQuery).then(
        () => answers++,
        () => undefined, // no worker up for a moment: the next query tries again
      );
      await new Promise((resolve) => setTimeout(resolve, intervals[i % intervals.length]));
    }
  })();

  try {
    for (const threshold of [600, 1400, 2200]) {
      await waitFor(async () => (await sentSoFar(file.h.pool, campaignId)) >= threshold, {
        what: `${threshold} sent`,
      });
      await worker.kill();
      worker = await file.h.spawnWorker();
    }
    const result = await file.h.campaigns.result(campaignId);
    assert.deepEqual([result.status, result.total, result.sent, result.failed], ['sent', 3000, 3000, 0]);
  } finally {
    watching = false;
    await watcher;
    file.h.mailgun.setRandomFaults(null);
    await worker.stop();
  }

  assert.ok(answers > 10, `the watcher got answers throughout (${answers})`);
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
  assert.equal(report.duplicates.length, 0, `duplicates: ${report.duplicates.slice(0, 5).join(', ')}`);
  assert.equal(report.missing.length, 0, `missing: ${report.missing.slice(0, 5).join(', ')}`);
  assert.deepEqual(await ledgerSummary(file.h.pool, campaignId), [{ state: 'accepted', parts: 60, recipients: 3000 }]);
  assert.ok((await file.h.replayAll()) > 0, 'every history on the server replays');
});
