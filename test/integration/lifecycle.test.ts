import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { lifecycleWorkflowId, sendWorkflowId } from '../../common/campaign.js';
import { CampaignStatusAttr, CampaignTypeAttr } from '../../common/search-attributes.js';
import { actingAs } from '../../client/acting.js';
import { campaignTransitions, findCampaign } from '../../db/campaigns.js';
import { isEligible } from '../../local-stack/seed.js';
import { deliveryReport } from '../helpers/delivery.js';
import { campaignError } from '../helpers/errors.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';
import { textsOf } from '../helpers/replay.js';

/**
 * One campaign from draft to archive on real services, with durations
 * compressed to seconds: configure, count the audience, draft the content with
 * AI (the OpenAI-compatible local server), preview it to the test addresses,
 * approve it for a few seconds ahead, send, track, analyse, archive.
 */

const TESTERS = ['qa.one@distronation.example', 'qa.two@distronation.example'];
const file = harnessForFile({
  users: 400,
  worker: false,
  settings: { TRACKING_WINDOW_MS: '5000', ANALYTICS_REFRESH_MS: '1000' },
});

function deliveriesOf(campaignId: string) {
  return file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId && m.variables['dn_batch'] !== undefined);
}

function previewsOf(campaignId: string) {
  return file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId && m.variables['dn_preview'] !== undefined);
}

async function phaseOf(campaignId: string): Promise<string> {
  return (await file.h.campaigns.state(campaignId)).phase;
}

async function firestoreDoc(collection: string, id: string) {
  return (await file.h.firestore.firestore.collection(collection).doc(id).get()).data();
}

test('draft to archive: configure, audience, AI content, preview, scheduled approval, send, tracking, analysis', async () => {
  const worker = await file.h.startWorker();
  try {
    const campaignId = await actingAs({ name: 'api:crm' }, () => file.h.campaigns.create({ name: 'December newsletter', type: 'newsletter' }));
    assert.equal(await phaseOf(campaignId), 'draft');

    const configured = await actingAs({ name: 'cli:ana' }, () =>
      file.h.campaigns.configure(campaignId, {
        expectedVersion: 1,
        changes: { audience: { emailType: 'newsletter', limit: 150 }, testAddresses: TESTERS },
      }),
    );
    assert.deepEqual([configured.phase, configured.configVersion], ['configured', 2]);

    const audience = await file.h.campaigns.previewAudience(campaignId);
    assert.equal(audience.count, 150);
    assert.equal(audience.sampleUserIds.length, 5);
    assert.equal(await phaseOf(campaignId), 'audience-ready');
    assert.equal(await file.h.pool.query('SELECT 1 FROM campaign_recipients WHERE campaign_id = $1', [campaignId]).then((r) => r.rowCount), 0, 'nothing frozen');

    const drafted = await file.h.campaigns.generateContent(campaignId, { prompt: 'Our new royalty dashboard is live.' });
    assert.equal(drafted.phase, 'content-ready');
    assert.equal(drafted.generated?.cached, false);
    const campaign = await findCampaign(file.h.pool, campaignId);
    assert.match(campaign?.content?.subject ?? '', /^\[Placeholder draft\]/);
    const generatedId = drafted.generated?.generatedContentId ?? '';
    const stored = await firestoreDoc('generatedContent', generatedId);
    assert.equal(stored?.['campaignId'], campaignId);
    assert.ok((stored?.['usage'] as { totalTokens?: number } | undefined)?.totalTokens, 'token usage stored');

    const previewed = await file.h.campaigns.preview(campaignId);
    assert.deepEqual([previewed.phase, previewed.previewedVersion], ['preview-sent', previewed.configVersion]);
    const tests = previewsOf(campaignId);
    assert.deepEqual(tests.map((m) => m.recipient).sort(), [...TESTERS].sort(), 'the preview went to the test addresses only');
    assert.ok(tests.every((m) => m.subject.startsWith('[TEST] ')));

    const sendAt = new Date(Date.now() + 3000).toISOString();
    const approved = await actingAs({ name: 'api:ops' }, () => file.h.campaigns.approve(campaignId, { sendAt }));
    assert.deepEqual([approved.phase, approved.sendAt], ['scheduled', sendAt]);
    assert.equal(deliveriesOf(campaignId).length, 0, 'nothing sent before the send time');

    const result = await file.h.campaigns.lifecycleResult(campaignId);
    assert.equal(result.status, 'archived');
    assert.equal(result.metrics?.sent, 150);

    const sent = deliveriesOf(campaignId);
    const firstSent = Math.min(...sent.map((m) => m.acceptedAt));
    assert.ok(firstSent >= Date.parse(sendAt), 'the send waited for its time');
    const eligible = file.profiles.filter((p) => p.status === 'active' && p.subscriptionStatus === 'subscribed' && !p.suppressed && p.emailTypes.includes('newsletter'));
    const report = deliveryReport(file.h.mailgun, campaignId, eligible.slice(0, 150), 'newsletter');
    // The preview messages carry the campaign id too; only the send's are counted here.
    assert.deepEqual([report.duplicates.length, report.missing.length, sent.length], [0, 0, 150]);
    assert.ok(sent.every((m) => m.subject === campaign?.content?.subject), 'every batch sent the approved content');

    // Each names who made it: the caller (the audit log's name for them), or the workflow itself.
    const transitions = (await campaignTransitions(file.h.pool, campaignId)).map((t) => `${t.status} by ${t.actor}`);
    assert.deepEqual(transitions, [
      'draft by api:crm',
      'configured by cli:ana',
      'audience-ready by library',
      'content-ready by library',
      'preview-sent by library',
      'scheduled by api:ops',
      'sending by system',
      'sent by system',
      'tracking by system',
      'analysed by system',
      'archived by system',
    ]);
    // One writer, the lifecycle, counting its writes: the send phases (sending, sent) are among them.
    const versions = await file.h.pool.query<{ version: string; at: Date }>(
      'SELECT version, at FROM campaign_transitions WHERE campaign_id = $1 ORDER BY version',
      [campaignId],
    );
    const order = versions.rows.map((r) => Number(r.version));
    assert.equal(order[0], 1, 'the first write is the first transition');
    assert.ok(order.every((v, i) => i === 0 || (v > (order[i - 1] ?? 0) && (versions.rows[i]?.at ?? 0) >= (versions.rows[i - 1]?.at ?? 0))), 'in the order written');
    const row = await findCampaign(file.h.pool, campaignId);
    assert.ok(row?.archivedAt && row.approvedAt && row.frozenContent, 'archived, approved and frozen in Aurora');
    const projected = await firestoreDoc('campaigns', campaignId);
    assert.equal(projected?.['status'], 'archived');
    assert.deepEqual((({ total, sent, failed }) => ({ total, sent, failed }))(projected?.['progress'] as Record<string, number>), {
      total: 150,
      sent: 150,
      failed: 0,
    });
    const analytics = await firestoreDoc('campaignAnalytics', campaignId);
    assert.deepEqual([analytics?.['sent'], analytics?.['final']], [150, true]);

    // Operators find it in the Temporal UI: by status, type, and with a summary on each run.
    const lifecycle = await file.h.temporal.workflow.getHandle(lifecycleWorkflowId(campaignId)).describe();
    assert.equal(lifecycle.typedSearchAttributes.get(CampaignStatusAttr), 'archived');
    assert.equal(lifecycle.typedSearchAttributes.get(CampaignTypeAttr), 'newsletter');
    const send = await file.h.temporal.workflow.getHandle(sendWorkflowId(campaignId)).describe();
    assert.equal(send.status.name, 'COMPLETED');
  } finally {
    await worker.stop();
  }
});

test('the worker killed while waiting on the send timer and while tracking: completes, nothing sent twice', async () => {
  const campaignId = await file.h.campaigns.create({
    name: 'Killed twice',
    type: 'outreach',
    content: { subject: 'Hello %recipient.name%', text: 'Hello' },
    audience: { limit: 120 },
  });
  let worker = await file.h.spawnWorker();
  await file.h.campaigns.approve(campaignId, { sendAt: new Date(Date.now() + 6000).toISOString(), send: { batchSize: 50 } });
  assert.equal(await phaseOf(campaignId), 'scheduled');
  await worker.kill(); // the durable timer keeps running without any worker
  await sleep(2000);
  worker = await file.h.spawnWorker();

  await waitFor(async () => (await phaseOf(campaignId)) === 'tracking', { timeoutMs: 60_000, what: 'tracking' });
  await worker.kill();
  await sleep(1500);
  worker = await file.h.spawnWorker();
  try {
    const result = await file.h.campaigns.lifecycleResult(campaignId);
    assert.equal(result.status, 'archived');
  } finally {
    await worker.stop();
  }
  const report = deliveryReport(file.h.mailgun, campaignId, file.profiles.filter((p) => isEligible(p, 'outreach')).slice(0, 120), 'outreach');
  assert.deepEqual([report.duplicates.length, report.missing.length, report.delivered], [0, 0, 120]);
});

test('an edit against a stale version is a conflict; after sending has begun, edits are refused', async () => {
  const worker = await file.h.startWorker();
  try {
    const campaignId = await file.h.campaigns.create({ name: 'Two editors', type: 'newsletter', content: { subject: 'v1', text: 'v1' }, audience: { limit: 20 } });
    await file.h.campaigns.configure(campaignId, { expectedVersion: 1, changes: { subject: 'Alice was here' } });
    await assert.rejects(
      file.h.campaigns.configure(campaignId, { expectedVersion: 1, changes: { subject: 'Bob overwrites Alice' } }),
      campaignError('conflict', /version conflict: .*version 1.*version 2/),
    );
    assert.equal((await findCampaign(file.h.pool, campaignId))?.content?.subject, 'Alice was here');

    await file.h.campaigns.approve(campaignId, { send: { batchSize: 5, ratePerSecond: 10 } });
    await assert.rejects(
      file.h.campaigns.configure(campaignId, { expectedVersion: 2, changes: { subject: 'Too late' } }),
      campaignError('wrong-phase', /no longer be edited/),
    );
    await file.h.campaigns.result(campaignId);
    assert.ok(deliveriesOf(campaignId).every((m) => m.subject === 'Alice was here'));
  } finally {
    await worker.stop();
  }
});

test('cancel in draft, after a preview and while sending: nothing more is sent, the state is consistent', async () => {
  const worker = await file.h.startWorker();
  try {
    const draft = await file.h.campaigns.create({ name: 'Cancelled draft', type: 'newsletter', content: { subject: 'x', text: 'x' } });
    assert.equal((await file.h.campaigns.cancel(draft)).status, 'cancelled');
    assert.equal((await file.h.campaigns.lifecycleResult(draft)).status, 'cancelled');
    assert.equal((await findCampaign(file.h.pool, draft))?.status, 'cancelled');
    await assert.rejects(file.h.campaigns.approve(draft), campaignError('wrong-phase', /cancelled/));

    const previewed = await file.h.campaigns.create({
      name: 'Cancelled after preview',
      type: 'newsletter',
      content: { subject: 'x', text: 'x' },
      testAddresses: TESTERS,
    });
    await file.h.campaigns.preview(previewed);
    assert.equal(await phaseOf(previewed), 'preview-sent');
    await file.h.campaigns.cancel(previewed);
    assert.equal((await file.h.campaigns.lifecycleResult(previewed)).status, 'cancelled');
    assert.deepEqual([previewsOf(previewed).length, deliveriesOf(previewed).length], [2, 0]);

    const sending = await file.h.campaigns.create({ name: 'Cancelled while sending', type: 'newsletter', content: { subject: 'x', text: 'x' } });
    await file.h.campaigns.approve(sending, { send: { batchSize: 10, window: 1, ratePerSecond: 20 } });
    await waitFor(async () => (await file.h.campaigns.progress(sending)).sent >= 20, { what: '20 sent' });
    assert.equal((await file.h.campaigns.cancel(sending)).status, 'cancelled');
    const result = await file.h.campaigns.lifecycleResult(sending);
    assert.equal(result.status, 'cancelled');
    const sentAtCancel = deliveriesOf(sending).length;
    await sleep(1500);
    assert.equal(deliveriesOf(sending).length, sentAtCancel, 'nothing sent after the cancel');
    assert.equal((await file.h.campaigns.result(sending)).sent, sentAtCancel);
    assert.equal((await findCampaign(file.h.pool, sending))?.status, 'cancelled');
  } finally {
    await worker.stop();
  }
});

test('OpenAI: a 429 is retried and the draft stored once; a malformed answer fails clearly and the draft stays editable; the same prompt is a cache hit', async () => {
  const worker = await file.h.startWorker();
  const openai = file.h.stack.openai;
  try {
    const campaignId = await file.h.campaigns.create({ name: 'AI draft', type: 'financial', reportYear: 2026, reportMonth: 10 });
    const before = { requests: openai.requests, rows: await generatedRows() };
    openai.injectFaults({ kind: 'rate-limit', retryAfterSeconds: 1 });
    const first = await file.h.campaigns.generateContent(campaignId, { prompt: 'October statements are ready.' });
    assert.equal(first.generated?.cached, false);
    assert.equal(openai.requests - before.requests, 2, 'the 429, then the answer');
    assert.equal((await generatedRows()) - before.rows, 1, 'stored once');

    openai.injectFaults({ kind: 'malformed' });
    await assert.rejects(
      file.h.campaigns.generateContent(campaignId, { prompt: 'Something else entirely.' }),
      campaignError('upstream', /not valid JSON/),
    );
    const state = await file.h.campaigns.state(campaignId);
    assert.equal(state.phase, 'content-ready', 'the earlier draft stands');
    // Still editable (the prompt does not depend on the audience, so the next request is the same prompt).
    await file.h.campaigns.configure(campaignId, { expectedVersion: state.configVersion, changes: { audience: { limit: 10 } } });

    const requests = openai.requests;
    const again = await file.h.campaigns.generateContent(campaignId, { prompt: 'October statements are ready.' });
    assert.equal(again.generated?.cached, true);
    assert.equal(openai.requests, requests, 'no second call for the same prompt');
  } finally {
    await worker.stop();
  }

  async function generatedRows(): Promise<number> {
    const { rows } = await file.h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM generated_content');
    return rows[0]?.n ?? 0;
  }
});

test('an edit’s content goes through Aurora: the lifecycle’s history carries the draft’s id and the fields’ names, never the html', async () => {
  const worker = await file.h.startWorker();
  try {
    const campaignId = await file.h.campaigns.create({ name: 'Big edit', type: 'newsletter' });
    const marker = `content-marker-${Date.now()}`;
    const html = `<p>${marker}</p>${'<p>Royalties, streams and statements.</p>'.repeat(12_000)}`;
    const state = await file.h.campaigns.configure(campaignId, { expectedVersion: 1, changes: { subject: 'A long letter', html } });
    assert.equal(state.configVersion, 2);
    assert.equal((await findCampaign(file.h.pool, campaignId))?.content?.html, html, 'saved in full');
    const history = await file.h.temporal.workflow.getHandle(lifecycleWorkflowId(campaignId)).fetchHistory();
    const text = textsOf(history.events).join('\n');
    assert.ok(!text.includes(marker), 'the html is not in the history');
    assert.match(text, /Save edit of version 1: html, subject/);
    assert.ok(Buffer.byteLength(text) < 100_000, `the history is small (${Buffer.byteLength(text)} bytes of text for a ${html.length}-character edit)`);
  } finally {
    await worker.stop();
  }
});
