import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { sendWorkflowId } from '../../common/campaign.js';
import { actingAs } from '../../client/acting.js';
import { campaignTransitions, findCampaign, findCampaignStats } from '../../db/campaigns.js';
import { ledgerSummary } from '../../db/ledger.js';
import { assertSendRecorded } from '../helpers/aurora.js';
import { deliveryReport } from '../helpers/delivery.js';
import { waitFor, harnessForFile } from '../helpers/harness.js';

const file = harnessForFile({ users: 6000, seed: { mixed: false } });

// 6,000 recipients at 2,000/s in batches of 200: about three seconds of sending, time enough to steer.
const SLOW = { batchSize: 200, window: 2, ratePerSecond: 2000 } as const;

async function createCampaign(name: string, limit?: number): Promise<string> {
  const audience = limit === undefined ? {} : { limit };
  return file.h.campaigns.create({ name, type: 'newsletter', content: { subject: name, text: 'Hello %recipient.name%' }, audience });
}

function acceptedFor(campaignId: string): number {
  return file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId).length;
}

async function firestoreDoc(campaignId: string) {
  return (await file.h.firestore.firestore.collection('campaigns').doc(campaignId).get()).data();
}

/** Each status the campaign went through, with who made the change, once Aurora has recorded `last`. */
async function transitionsUntil(campaignId: string, last: string): Promise<string[]> {
  return waitFor(async () => {
    const transitions = await campaignTransitions(file.h.pool, campaignId);
    return transitions.some((t) => t.status === last) ? transitions.map((t) => `${t.status} by ${t.actor}`) : undefined;
  }, { what: `Aurora to record ${last}` });
}

/** No batch is left half-done, and Mailgun, the ledger and the stats agree on who was sent. */
async function assertLedgerConsistent(campaignId: string): Promise<number> {
  const ledger = await ledgerSummary(file.h.pool, campaignId);
  assert.deepEqual(ledger.filter((row) => row.state !== 'accepted'), [], 'no pending, sending or failed batches');
  const acceptedRecipients = ledger.find((row) => row.state === 'accepted')?.recipients ?? 0;
  assert.equal((await findCampaignStats(file.h.pool, campaignId))?.sent, acceptedRecipients);
  assert.equal(acceptedFor(campaignId), acceptedRecipients);
  return acceptedRecipients;
}

test('pause stops new batches; resume finishes the campaign with nobody skipped or sent twice; the transitions name who did each', async () => {
  const campaignId = await actingAs({ name: 'cli:ana' }, () => createCampaign('pause-resume'));
  await actingAs({ name: 'api:crm' }, () => file.h.campaigns.startSend(campaignId, SLOW));
  await waitFor(async () => (await file.h.campaigns.progress(campaignId)).sent >= 1000, { what: '1000 sent' });

  const paused = await actingAs({ name: 'api:ops' }, () => file.h.campaigns.pause(campaignId));
  assert.equal(paused.paused, true);
  assert.equal(paused.status, 'paused');
  // Batches already in flight finish, or are withdrawn unsent if they were still waiting for their slot;
  // then nothing more moves. (The send workflow itself knows which are in flight: ask it, live.)
  const settled = await waitFor(async () => {
    const progress = await file.h.campaigns.progress(campaignId, { live: true });
    return progress.inFlight === 0 ? progress : undefined;
  }, { what: 'in-flight batches to finish' });
  const countAtPause = acceptedFor(campaignId);
  assert.equal(countAtPause, settled.sent);
  assert.ok(settled.sent < 6000, 'the pause landed before the end');
  await sleep(2000);
  assert.equal(acceptedFor(campaignId), countAtPause, 'no message was sent while paused');
  assert.equal((await file.h.campaigns.progress(campaignId)).sent, countAtPause);
  assert.equal((await findCampaign(file.h.pool, campaignId))?.status, 'paused');
  await waitFor(async () => (await firestoreDoc(campaignId))?.['paused'] === true, { what: 'Firestore to show paused' });

  const resumed = await actingAs({ name: 'cli:ben' }, () => file.h.campaigns.resume(campaignId));
  assert.equal(resumed.paused, false);
  const result = await file.h.campaigns.result(campaignId);
  assert.deepEqual(result, { campaignId, status: 'sent', total: 6000, sent: 6000, failed: 0, unknownBatches: [] });
  // (Approval and the send starting come moments apart: Aurora may keep the latter only, latest value wins.)
  const transitions = await transitionsUntil(campaignId, 'sent');
  assert.equal(transitions[0], 'content-ready by cli:ana', transitions.join(' > '));
  assert.ok(transitions.includes('approved by api:crm') || transitions[1] === 'sending by system', transitions.join(' > '));
  const steered = transitions.indexOf('paused by api:ops');
  assert.deepEqual(transitions.slice(steered - 1, steered + 3), ['sending by system', 'paused by api:ops', 'sending by cli:ben', 'sent by system']);
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
  assert.deepEqual([report.duplicates.length, report.missing.length, report.unexpected.length], [0, 0, 0]);
  assert.equal(await assertLedgerConsistent(campaignId), 6000);
  await assertSendRecorded(file.h.pool, campaignId);
  await waitFor(async () => ['sent', 'tracking', 'analysed', 'archived'].includes(String((await firestoreDoc(campaignId))?.['status'])), {
    what: 'Firestore to show the send over',
  });
});

test('a pause withdraws the batches still waiting for their rate slot: nothing more goes out, and resume sends them', async () => {
  const campaignId = await createCampaign('pause while waiting', 300);
  // A ceiling of 20/s in batches of 100: one batch every 5 s, so batches 1 and 2 wait 5 and 10 s for their slot.
  await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 4, ratePerSecond: 20 });
  // As the workflow sees it: the ledger records the first batch a moment before the workflow learns that it is done.
  await waitFor(async () => (await file.h.campaigns.progress(campaignId, { live: true })).sent >= 100, { what: 'the first batch' });
  const paused = await file.h.campaigns.pause(campaignId);
  assert.equal(paused.inFlight, 200, 'two batches were waiting for their slot when the pause came');
  const settled = await waitFor(async () => {
    const progress = await file.h.campaigns.progress(campaignId, { live: true });
    return progress.inFlight === 0 ? progress : undefined;
  }, { what: 'the window to empty', timeoutMs: 20_000 });
  assert.equal(settled.sent, 100, 'only the first batch went out');
  await sleep(6000);
  assert.equal(acceptedFor(campaignId), 100, 'nothing went out while paused, not even when their slots came');
  const history = await file.h.temporal.workflow.getHandle(sendWorkflowId(campaignId)).fetchHistory();
  const withdrawn = (history.events ?? []).filter((e) => e.activityTaskCanceledEventAttributes).length;
  assert.equal(withdrawn, 2, 'both were withdrawn unsent');

  await file.h.campaigns.resume(campaignId);
  const result = await file.h.campaigns.result(campaignId);
  assert.deepEqual(result, { campaignId, status: 'sent', total: 300, sent: 300, failed: 0, unknownBatches: [] });
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles.slice(0, 300));
  assert.deepEqual([report.duplicates.length, report.missing.length], [0, 0]);
  assert.equal(await assertLedgerConsistent(campaignId), 300);
});

test('cancel stops the send for good and leaves the ledger consistent', async () => {
  const campaignId = await createCampaign('cancel');
  await file.h.campaigns.startSend(campaignId, SLOW);
  await waitFor(async () => (await file.h.campaigns.progress(campaignId)).sent >= 1000, { what: '1000 sent' });

  const cancelling = await actingAs({ name: 'api:ops' }, () => file.h.campaigns.cancel(campaignId));
  assert.equal(cancelling.status, 'cancelled');
  assert.equal((await transitionsUntil(campaignId, 'cancelled')).at(-1), 'cancelled by api:ops');
  const result = await file.h.campaigns.result(campaignId);
  assert.equal(result.status, 'cancelled');
  assert.ok(result.sent >= 1000 && result.sent < 6000, `sent ${result.sent} of 6000 before the cancel took hold`);

  const sent = await assertLedgerConsistent(campaignId);
  assert.equal(sent, result.sent);
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
  assert.equal(report.duplicates.length, 0);
  await sleep(1500);
  assert.equal(acceptedFor(campaignId), sent, 'nothing is sent after the cancel');
  assert.equal((await findCampaign(file.h.pool, campaignId))?.status, 'cancelled');
  await waitFor(async () => (await firestoreDoc(campaignId))?.['status'] === 'cancelled', { what: 'Firestore to show cancelled' });
  await assert.rejects(file.h.campaigns.startSend(campaignId), /is cancelled/);
});

test('a cancel from Temporal itself (UI, temporal CLI) also lets in-flight batches land', async () => {
  const campaignId = await createCampaign('operator-cancel');
  await file.h.campaigns.startSend(campaignId, SLOW);
  await waitFor(async () => (await file.h.campaigns.progress(campaignId)).sent >= 600, { what: '600 sent' });

  const handle = file.h.temporal.workflow.getHandle(sendWorkflowId(campaignId));
  await handle.cancel();
  await assert.rejects(handle.result(), (error: unknown) => error instanceof WorkflowFailedError);
  assert.equal((await handle.describe()).status.name, 'CANCELLED');
  const sent = await assertLedgerConsistent(campaignId);
  assert.ok(sent < 6000);
  // The lifecycle records it, once its send has told it: made through Temporal, by nobody we know.
  await waitFor(async () => (await findCampaign(file.h.pool, campaignId))?.status === 'cancelled', { what: 'Aurora to say cancelled' });
  assert.equal((await transitionsUntil(campaignId, 'cancelled')).at(-1), 'cancelled by temporal');
});
