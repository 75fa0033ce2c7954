import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { sendWorkflowId } from '../../common/campaign.js';
import { findCampaign, findCampaignStats } from '../../db/campaigns.js';
import { deliveryReport } from '../helpers/delivery.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../local-stack/firestore.js';

/** Aurora is the truth and Firestore a projection: losing Firestore slows the projection, never the send. */

const file = harnessForFile({ users: 3000, seed: { mixed: false } });
let revived: FirestoreEmulator | undefined;

after(async () => {
  await revived?.stop();
});

test('with Firestore down the whole campaign still goes out; the projection catches up when it returns', async () => {
  const [host, port] = file.h.stack.firestore.host.split(':');
  await file.h.stack.firestore.stop();

  const campaignId = await file.h.campaigns.create({ name: 'firestore outage', type: 'newsletter', content: { subject: 'Hi', text: 'Hi' }, audience: {} });
  await file.h.campaigns.startSend(campaignId, { batchSize: 500 });

  // Every message goes out and Aurora records it, while Firestore is unreachable.
  await waitFor(async () => (await findCampaign(file.h.pool, campaignId))?.status === 'sent', { what: 'Aurora status sent' });
  assert.equal((await findCampaignStats(file.h.pool, campaignId))?.sent, 3000);
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
  assert.deepEqual([report.delivered, report.duplicates.length, report.missing.length], [3000, 0, 0]);
  // The run waits for its last projection before it closes.
  const handle = file.h.temporal.workflow.getHandle(sendWorkflowId(campaignId));
  assert.equal((await handle.describe()).status.name, 'RUNNING');

  revived = await startFirestoreEmulator({ port: Number(port), projectId: file.h.stack.firestore.projectId });
  assert.equal(revived.host, `${host}:${port}`);
  const result = await file.h.campaigns.result(campaignId);
  assert.equal(result.sent, 3000);
  const doc = (await file.h.firestore.firestore.collection('campaigns').doc(campaignId).get()).data();
  assert.equal((doc?.['progress'] as { sent?: number } | undefined)?.sent, 3000, 'the send waited for its last projection');
  // The lifecycle's status catches up too: the send's end, or a later one it wrote since (tracking…).
  await waitFor(
    async () => {
      const status: unknown = (await file.h.firestore.firestore.collection('campaigns').doc(campaignId).get()).data()?.['status'];
      return ['sent', 'tracking', 'analysed', 'archived'].includes(String(status));
    },
    { what: 'Firestore to show the send over' },
  );
});
