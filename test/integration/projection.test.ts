import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sendWorkflowId } from '../../common/campaign.js';
import { findCampaign, findCampaignStats } from '../../db/campaigns.js';
import { deliveryReport } from '../helpers/delivery.js';
import { startHarness, waitFor, type Harness, type RunningWorker } from '../helpers/harness.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../standins/firestore.js';
import { seedUsers, type SeedProfile } from '../standins/seed.js';

/** Aurora is the truth and Firestore a projection: losing Firestore slows the projection, never the send. */

let h: Harness;
let worker: RunningWorker;
let profiles: SeedProfile[];
let revived: FirestoreEmulator | undefined;

before(async () => {
  h = await startHarness();
  profiles = await seedUsers(h.pool, 3000, { mixed: false });
  worker = await h.startWorker();
});

after(async () => {
  await worker?.stop();
  await revived?.stop();
  await h?.stop();
});

test('with Firestore down the whole campaign still goes out; the projection catches up when it returns', async () => {
  const [host, port] = h.stack.firestore.host.split(':');
  await h.stack.firestore.stop();

  const campaignId = await h.campaigns.create({ name: 'firestore outage', type: 'newsletter', content: { subject: 'Hi', text: 'Hi' }, audience: {} });
  await h.campaigns.startSend(campaignId, { batchSize: 500 });

  // Every message goes out and Aurora records it, while Firestore is unreachable.
  await waitFor(async () => (await findCampaign(h.pool, campaignId))?.status === 'sent', { what: 'Aurora status sent' });
  assert.equal((await findCampaignStats(h.pool, campaignId))?.sent, 3000);
  const report = deliveryReport(h.mailgun, campaignId, profiles);
  assert.deepEqual([report.delivered, report.duplicates.length, report.missing.length], [3000, 0, 0]);
  // The run waits for its last projection before it closes.
  const handle = h.temporal.workflow.getHandle(sendWorkflowId(campaignId));
  assert.equal((await handle.describe()).status.name, 'RUNNING');

  revived = await startFirestoreEmulator({ port: Number(port), projectId: h.stack.firestore.projectId });
  assert.equal(revived.host, `${host}:${port}`);
  const result = await h.campaigns.result(campaignId);
  assert.equal(result.sent, 3000);
  const doc = (await h.firestore.firestore.collection('campaigns').doc(campaignId).get()).data();
  assert.equal(doc?.['status'], 'sent');
  assert.equal((doc?.['progress'] as { sent?: number } | undefined)?.sent, 3000);
});
