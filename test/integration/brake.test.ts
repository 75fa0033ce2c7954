import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ApiServer } from '../../api/server.js';
import { FIRESTORE_CAMPAIGNS } from '../../activities/state.js';
import { findCounters } from '../../db/analytics.js';
import { actingAs } from '../../client/acting.js';
import { campaignTransitions, findCampaign } from '../../db/campaigns.js';
import { simulateAudience } from '../../local-stack/demo-engagement.js';
import { lifecycleWorkflowId } from '../../common/campaign.js';
import { startTestApi } from '../helpers/api.js';
import { acceptedFor, deliveryReport } from '../helpers/delivery.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';

/**
 * The brake (README, "The brake"): the Mailgun stand-in plays a list with 8 % permanent bounces,
 * its webhooks feed the counters, and once 1,000 messages are delivered the send pauses itself
 * with needs-attention and the reason everywhere an operator or the CRM looks; resumed, it
 * finishes, every recipient once.
 */

const SIGNING_KEY = 'whsec-brake-0123456789abcdef';
const file = harnessForFile({ users: 2000, seed: { mixed: false } });

let api: ApiServer;
let audience: { stop(): Promise<void> };

describe('the brake', () => {
  before(async () => {
    api = await startTestApi(file.h, { signingKey: SIGNING_KEY });
    // The events the brake counts (opens and clicks would only queue ahead of them on this two-core machine).
    file.h.mailgun.configureWebhooks({ url: `${api.url}/webhooks/mailgun`, signingKey: SIGNING_KEY, events: ['delivered', 'failed'] });
    audience = simulateAudience(file.h.mailgun, { everyMs: 50, bouncePercent: 8, oneClickPercent: 0, complaintPercent: 0 });
  });
  after(async () => {
    await audience?.stop();
    file.h.mailgun.configureWebhooks(null);
    await api?.stop();
  });

  test('8 % bounces: past 1,000 delivered the send pauses itself with needs-attention and the reason in progress, show, the UI and Firestore; resumed, it finishes', async () => {
    const campaignId = await file.h.campaigns.create({ name: 'A list with a bad segment', type: 'newsletter', content: { subject: 'News', text: 'Hello %recipient.name%' } });
    // Slow enough (200 messages a second) that the webhooks keep up, as they do with a real list.
    await file.h.campaigns.startSend(campaignId, { batchSize: 100, window: 2, ratePerSecond: 200 });

    const held = await waitFor(
      async () => {
        const progress = await file.h.campaigns.progress(campaignId, { live: true });
        return progress.status === 'needs-attention' ? progress : progress.status === 'sending' || progress.status === 'paused' ? undefined : assert.fail(`the send ended ${progress.status}`);
      },
      { what: 'the brake', timeoutMs: 60_000 },
    );
  assert.equal(held.brake?.kind, 'bounces');
    assert.ok(held.brake.delivered >= 1000, `judged after ${held.brake.delivered} delivered`);
    assert.ok(held.brake.percent > 5 && held.brake.percent < 11, `${held.brake.percent} %`);
    assert.match(held.attention ?? '', /^permanent bounces are [\d.]+ % of messages with an outcome \([\d,]+ of [\d,]+\), above the brake's 5 %: the send paused itself/);
    assert.equal(held.paused, true);
    // At the threshold: the send stopped well before the end of the list.
    assert.ok(held.sent < 1600, `${held.sent} of ${held.total} went out before the brake held`);

    // It stays stopped: batches that were waiting were given back, and nothing more goes out.
    const quiet = await waitFor(async () => ((await file.h.campaigns.progress(campaignId, { live: true })).inFlight === 0 ? true : undefined), { what: 'the window to drain' });
    assert.ok(quiet);
    const stopped = acceptedFor(file.h.mailgun, campaignId).length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(acceptedFor(file.h.mailgun, campaignId).length, stopped, 'nothing is sent while the brake holds');
    assert.ok(stopped < 2000);

    // Where people look: Aurora's progress and campaign (what `campaign progress` and `show` print), Firestore, the Temporal UI.
    const stored = await file.h.campaigns.progress(campaignId);
    assert.deepEqual([stored.status, stored.attention], ['needs-attention', held.attention]);
    const shown = await file.h.campaigns.get(campaignId);
    assert.deepEqual([shown.campaign.status, shown.campaign.attentionReason], ['needs-attention', held.attention]);
    const doc = await waitFor(async () => {
      const data = (await file.h.firestore.firestore.collection(FIRESTORE_CAMPAIGNS).doc(campaignId).get()).data();
      return data?.['status'] === 'needs-attention' ? data : undefined;
    }, { what: 'Firestore' });
    assert.equal(doc['attentionReason'], held.attention);
    const metadata = await file.h.temporal.workflow.getHandle(lifecycleWorkflowId(campaignId)).query<{ currentDetails: string }>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails, /\*\*needs-attention\*\*[\s\S]*needs attention: permanent bounces are/);

    // An operator looks, judges the list, and resumes: the brake stays off for the rest of this send.
    const resumed = await actingAs({ name: 'api:ops' }, () => file.h.campaigns.resume(campaignId));
    assert.equal(resumed.status, 'sending');
    assert.equal(resumed.attention, undefined);
    const result = await file.h.campaigns.result(campaignId);
    assert.equal(result.status, 'sent');
    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
    assert.deepEqual({ duplicates: report.duplicates, missing: report.missing.length, unexpected: report.unexpected }, { duplicates: [], missing: 0, unexpected: [] });
    assert.equal(report.delivered, 2000);
    assert.equal((await findCampaign(file.h.pool, campaignId))?.attentionReason, null, 'the reason goes with the status');
    const transitions = (await campaignTransitions(file.h.pool, campaignId)).map((t) => `${t.status} by ${t.actor}`);
    const braked = transitions.indexOf('needs-attention by system');
    assert.deepEqual(transitions.slice(braked, braked + 2), ['needs-attention by system', 'sending by api:ops'], 'the brake held it, an operator resumed it');
    const counters = await findCounters(file.h.pool, campaignId);
    assert.ok((counters?.bounced ?? 0) > 0);
  });
});
