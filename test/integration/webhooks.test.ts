import assert from 'node:assert/strict';
import { apiKeyOf } from '../../api/keys.js';
import { after, before, describe, test } from 'node:test';
import { startAnalyticsProjector, type AnalyticsProjector } from '../../analytics/projector.js';
import { createApiApp } from '../../api/app.js';
import type { ApiServer } from '../../api/server.js';
import { createEventRecorder } from '../../api/webhooks/recorder.js';
import { AnalyticsClient, type CampaignAnalytics } from '../../client/analytics.js';
import type { EngagementCounters } from '../../common/engagement.js';
import type { Stream } from '../../common/streams.js';
import { createPool } from '../../db/pool.js';
import { subscriptionsOf } from '../../db/subscriptions.js';
import { userIdsByEmail } from '../../db/users.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../local-stack/firestore.js';
import type { MailgunEvent } from '../../local-stack/mailgun-server.js';
import { describeRun, runCli } from '../helpers/cli.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';
import { startTestApi } from '../helpers/api.js';
import { mailgunSignature, postWebhook, signedBody } from '../helpers/webhooks.js';

/**
 * Mailgun's webhooks through the HTTP API into Aurora and Firestore: signatures, replays, dedupe,
 * suppression, reconciliation with Mailgun's logs for the webhooks that never came, and a
 * Firestore outage in the middle of a burst.
 */

const SIGNING_KEY = 'whsec-test-0123456789abcdef';
const API_KEY = 'test-api-key-0123456789abcdef';
const file = harnessForFile({ users: 120, seed: { mixed: false }, settings: { TRACKING_WINDOW_MS: '6000', ANALYTICS_REFRESH_MS: '1000' } });

let api: ApiServer;
let projector: AnalyticsProjector;
let revived: FirestoreEmulator | undefined;
const webhookUrl = () => `${api.url}/webhooks/mailgun`;

/** Sends a campaign to the first `limit` users not used before, and waits until the send is done. */
let usersTaken = 0;
async function sentCampaign(name: string, limit: number, userIds?: string[], type: Stream = 'newsletter'): Promise<{ campaignId: string; recipients: string[] }> {
  const ids = userIds ?? (await idsOf(file.profiles.slice(usersTaken, usersTaken + limit).map((p) => p.email)));
  if (!userIds) usersTaken += limit;
  const campaignId = await file.h.campaigns.create({ name, type, content: { subject: name, text: 'Hi %recipient.name%' }, audience: { userIds: ids } });
  await file.h.campaigns.startSend(campaignId);
  await file.h.campaigns.result(campaignId);
  const recipients = file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId).map((m) => m.recipient);
  return { campaignId, recipients };
}

async function idsOf(emails: string[]): Promise<string[]> {
  const byEmail = await userIdsByEmail(file.h.pool, emails);
  return emails.map((email) => byEmail.get(email) ?? assert.fail(`no user ${email}`));
}

async function analyticsOf(campaignId: string): Promise<CampaignAnalytics> {
  const response = await fetch(`${api.url}/campaigns/${campaignId}/analytics`, { headers: { 'x-api-key': API_KEY } });
  assert.equal(response.status, 200);
  return (await response.json()) as CampaignAnalytics;
}

async function eventRows(): Promise<number> {
  return (await file.h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mailgun_events')).rows[0]?.n ?? 0;
}

/** What the Mailgun server says happened to a campaign's messages, as counters. */
function expectedCounters(events: readonly MailgunEvent[]): Partial<EngagementCounters> {
  const of = (kind: string, pred: (e: MailgunEvent) => boolean = () => true) => events.filter((e) => e.event === kind && pred(e));
  const unique = (kind: string) => new Set(of(kind).map((e) => e.recipient.toLowerCase())).size;
  return {
    delivered: of('delivered').length,
    opened: of('opened').length,
    uniqueOpened: unique('opened'),
    clicked: of('clicked').length,
    uniqueClicked: unique('clicked'),
    bounced: of('failed', (e) => e.severity === 'permanent').length,
    temporaryFailed: of('failed', (e) => e.severity === 'temporary').length,
    complained: of('complained').length,
    unsubscribed: of('unsubscribed').length,
  };
}

function countersPart(counters: EngagementCounters, like: Partial<EngagementCounters>): Partial<EngagementCounters> {
  return Object.fromEntries(Object.keys(like).map((k) => [k, counters[k as keyof EngagementCounters]]));
}

function eventsOf(campaignId: string): MailgunEvent[] {
  return file.h.mailgun.engagementEvents().filter((e) => e.userVariables['campaign_id'] === campaignId);
}

describe('Mailgun webhooks', () => {
  before(async () => {
    api = await startTestApi(file.h, { apiKey: API_KEY, signingKey: SIGNING_KEY });
    projector = startAnalyticsProjector(file.h.pool, file.h.firestore.firestore, { intervalMs: 200, maxBackoffMs: 1000, logger: { warn: () => undefined } });
  });
  after(async () => {
    file.h.mailgun.configureWebhooks(null);
    await projector.stop();
    await api.stop();
    await revived?.stop();
  });

  test('signed payloads are recorded; a bad signature, stale timestamp, replayed token or malformed body is refused and recorded nowhere', async () => {
    const { campaignId, recipients } = await sentCampaign('signatures', 5);
    const message = file.h.mailgun.accepted().find((m) => m.recipient === recipients[0]);
    const data = (id: string, event = 'delivered') => ({
      event,
      id,
      timestamp: Date.now() / 1000,
      recipient: recipients[0],
      message: { headers: { 'message-id': message?.messageId } },
      'user-variables': { campaign_id: campaignId },
    });
    const tokens = async () => (await file.h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_tokens')).rows[0]?.n ?? 0;
    const [eventsBefore, tokensBefore] = [await eventRows(), await tokens()];

    const good = mailgunSignature(SIGNING_KEY);
    assert.deepEqual(await postWebhook(webhookUrl(), signedBody(SIGNING_KEY, data('sig-ok'), good)), { status: 200, body: { status: 'recorded' } });

    const refused: Array<[string, string, number, string | undefined]> = [
      ['wrong key', signedBody('not-the-signing-key-000', data('sig-wrong')), 401, 'invalid_signature'],
      ['tampered', signedBody(SIGNING_KEY, data('sig-tampered'), { ...mailgunSignature(SIGNING_KEY), token: 'f'.repeat(50) }), 401, 'invalid_signature'],
      ['stale', signedBody(SIGNING_KEY, data('sig-stale'), mailgunSignature(SIGNING_KEY, { timestampMs: Date.now() - 10 * 60_000 })), 401, 'stale_timestamp'],
      ['replayed token', signedBody(SIGNING_KEY, data('sig-replay'), good), 401, 'replayed_token'],
      ['no signature', JSON.stringify({ 'event-data': data('sig-none') }), 401, 'invalid_signature'],
      ['not JSON', '{"signature": ', 406, 'unusable_event'],
      ['unknown event', signedBody(SIGNING_KEY, data('sig-stored', 'stored')), 406, 'unusable_event'],
      ['no event id', signedBody(SIGNING_KEY, { ...data('x'), id: undefined }), 406, 'unusable_event'],
      // Issue 15: a signed event padded to 8 MB was parsed and recorded; now refused before parsing or the signature.
      ['padded to 8 MB', signedBody(SIGNING_KEY, { ...data('sig-padded'), padding: 'x'.repeat(8 * 1024 * 1024) }), 413, 'payload_too_large'],
      ['just over 64 KB', signedBody(SIGNING_KEY, { ...data('sig-64k'), padding: 'x'.repeat(64 * 1024) }), 413, 'payload_too_large'],
      ['a time in the year 5000', signedBody(SIGNING_KEY, { ...data('sig-far'), timestamp: 95_617_584_000 }), 406, 'unusable_event'],
      ['a time past any date', signedBody(SIGNING_KEY, { ...data('sig-absurd'), timestamp: 1e20 }), 406, 'unusable_event'],
    ];
    for (const [what, body, status, code] of refused) {
      const answer = await postWebhook(webhookUrl(), body);
      assert.deepEqual([answer.status, answer.body.error?.code], [status, code], what);
    }
    assert.equal(await eventRows(), eventsBefore + 1, 'only the good one is recorded');
    assert.equal(await tokens(), tokensBefore + 1, 'only the good one used its token');
    assert.equal((await analyticsOf(campaignId)).counters.delivered, 1);

    // A campaign id past PostgreSQL's bigint names no campaign of ours: recorded as such, never a 500 or 503.
    const overflow = signedBody(SIGNING_KEY, { ...data('sig-overflow'), 'user-variables': { campaign_id: '9999999999999999999' } });
    assert.deepEqual(await postWebhook(webhookUrl(), overflow), { status: 200, body: { status: 'recorded' } });
    const stored = await file.h.pool.query<{ campaign_id: string | null }>("SELECT campaign_id FROM mailgun_events WHERE event_id = 'sig-overflow'");
    assert.deepEqual(stored.rows, [{ campaign_id: null }]);

    const doc = (await fetch(`${api.url}/openapi.json`).then((r) => r.json())) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    assert.deepEqual(doc.paths['/webhooks/mailgun']?.['post']?.security, [], 'documented, and signed by Mailgun instead of an API key');
  });

  test('a burst of webhooks from one address is cut off at its limit: 429 with Retry-After, before anything is read or recorded', async () => {
    const limited = await startTestApi(file.h, { apiKey: API_KEY, signingKey: SIGNING_KEY, webhooksPerMinute: 5 });
    try {
      const before = await eventRows();
      const body = (n: number) => signedBody(SIGNING_KEY, { event: 'delivered', id: `burst-${n}`, timestamp: Date.now() / 1000, recipient: 'burst@x.example', 'user-variables': {} });
      const answers = await Promise.all(Array.from({ length: 8 }, (_, n) => fetch(`${limited.url}/webhooks/mailgun`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(n) })));
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
      const refused = answers.find((a) => a.status === 429);
      assert.ok(Number(refused?.headers.get('retry-after')) >= 1);
      assert.equal(((await refused?.json()) as { error: { code: string } }).error.code, 'rate_limited');
      assert.equal(await eventRows(), before + 5, 'the refused ones are not recorded (Mailgun sends them again)');
    } finally {
      await limited.stop();
    }
  });

  test('an event that cannot be recorded (database unreachable) answers 503; Mailgun’s retry after the replay window, signed afresh, is recorded once', async () => {
    const unreachable = createPool('postgres://postgres:postgres@127.0.0.1:1/campaigns', 1, () => undefined);
    const logged: string[] = [];
    const app = createApiApp({
      campaigns: file.h.campaigns,
      analytics: new AnalyticsClient({ pool: file.h.pool }),
      apiKeys: [apiKeyOf('test', ['admin'], API_KEY)],
      logger: { error: (_details, message) => logged.push(message) },
      webhooks: { signingKey: SIGNING_KEY, maxAgeMs: 300_000, recorder: createEventRecorder(unreachable), ratePerMinute: 1_000_000 },
    });
    try {
      const data = { event: 'delivered', id: 'never-recorded', timestamp: Date.now() / 1000, recipient: 'a@artists.example', 'user-variables': {} };
      const response = await app.request('/webhooks/mailgun', { method: 'POST', headers: { 'content-type': 'application/json' }, body: signedBody(SIGNING_KEY, data) });
      assert.equal(response.status, 503);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'unavailable');
      assert.deepEqual(logged, ['webhook event could not be recorded']);

      // Mailgun's retry (5 minutes later, then 10, 15 minutes, 1, 2 and 4 hours) comes after the replay window,
      // signed afresh: recorded once, however often it comes.
      const retried = { ...data, id: 'recorded-on-retry' };
      const stale = signedBody(SIGNING_KEY, retried, mailgunSignature(SIGNING_KEY, { timestampMs: Date.now() - 6 * 60_000 }));
      assert.equal((await postWebhook(webhookUrl(), stale)).status, 401, 'a retry carrying the first, now stale, signature is refused (reconciliation finds the event)');
      const fresh = () => signedBody(SIGNING_KEY, retried, mailgunSignature(SIGNING_KEY));
      assert.deepEqual(await postWebhook(webhookUrl(), fresh()), { status: 200, body: { status: 'recorded' } });
      assert.deepEqual(await postWebhook(webhookUrl(), fresh()), { status: 200, body: { status: 'duplicate' } });
      const rows = await file.h.pool.query("SELECT 1 FROM mailgun_events WHERE event_id = 'recorded-on-retry'");
      assert.equal(rows.rowCount, 1);
    } finally {
      await unreachable.end();
    }
  });

  test('the same event delivered three times counts once; an open before its delivery counts all the same', async () => {
    const { campaignId, recipients } = await sentCampaign('dedupe', 3);
    const [ann, bob] = recipients as [string, string];
    const opened = file.h.mailgun.recordEngagement({ recipient: ann, event: 'opened' });
    const delivered = file.h.mailgun.recordEngagement({ recipient: ann, event: 'delivered' });
    const again = file.h.mailgun.recordEngagement({ recipient: ann, event: 'opened' });
    const clicked = file.h.mailgun.recordEngagement({ recipient: bob, event: 'clicked', url: 'https://distronation.com/royalties' });

    // Mailgun retries sign each attempt afresh; three at once and one later.
    const post = (event: MailgunEvent) => postWebhook(webhookUrl(), signedBody(SIGNING_KEY, file.h.mailgun.webhookEventData(event)));
    const first = await Promise.all([post(opened), post(opened), post(opened)]);
    assert.deepEqual(first.map((a) => a.status), [200, 200, 200]);
    assert.deepEqual(first.map((a) => a.body.status).sort(), ['duplicate', 'duplicate', 'recorded']);
    for (const event of [delivered, again, clicked, opened, clicked]) assert.equal((await post(event)).status, 200);

    const { counters } = await analyticsOf(campaignId);
    assert.deepEqual(countersPart(counters, expectedCounters(eventsOf(campaignId))), {
      delivered: 1,
      opened: 2,
      uniqueOpened: 1,
      clicked: 1,
      uniqueClicked: 1,
      bounced: 0,
      temporaryFailed: 0,
      complained: 0,
      unsubscribed: 0,
    });
    const click = await file.h.pool.query('SELECT url FROM click_events WHERE campaign_id = $1', [campaignId]);
    assert.deepEqual(click.rows, [{ url: 'https://distronation.com/royalties' }]);
  });

  test('an unsubscribe stops its stream, a complaint all of marketing, a hard bounce the address; statements carry on; lifting a bounce lets them back', async () => {
    const { campaignId, recipients } = await sentCampaign('suppression', 6);
    const ids = await idsOf(recipients);
    file.h.mailgun.configureWebhooks({ url: webhookUrl(), signingKey: SIGNING_KEY });
    const [unsubscriber, complainer, bouncer, deferred] = recipients as [string, string, string, string];
    const [unsubscriberId, complainerId] = ids as [string, string];
    file.h.mailgun.recordEngagement({ recipient: unsubscriber, event: 'unsubscribed' });
    file.h.mailgun.recordEngagement({ recipient: complainer, event: 'complained' });
    file.h.mailgun.recordEngagement({ recipient: bouncer, event: 'failed', severity: 'permanent', reason: 'bounce' });
    file.h.mailgun.recordEngagement({ recipient: deferred, event: 'failed', severity: 'temporary' });
    await file.h.mailgun.settleWebhooks();
    assert.deepEqual(file.h.mailgun.webhookStats(), { posted: 4, dropped: 0, failed: 0, attempts: 4 });
    file.h.mailgun.configureWebhooks(null);

    // Only the bounce is about the address; the others are opt-outs of streams.
    const listed = await fetch(`${api.url}/suppressions?limit=1000`, { headers: { 'x-api-key': API_KEY } }).then((r) => r.json() as Promise<{ items: Array<{ email: string; reason: string }> }>);
    const reasons = Object.fromEntries(listed.items.filter((s) => recipients.includes(s.email)).map((s) => [s.email, s.reason]));
    assert.deepEqual(reasons, { [bouncer]: 'bounced' });
    const consent = async (userId: string) =>
      Object.fromEntries((await subscriptionsOf(file.h.pool, userId)).map((s) => [s.stream, [s.status, s.reason, s.source]]));
    assert.deepEqual(await consent(unsubscriberId), {
      financial: ['subscribed', 'seeded', 'seed'],
      newsletter: ['unsubscribed', 'unsubscribed', 'mailgun'],
      outreach: ['subscribed', 'seeded', 'seed'],
    });
    assert.deepEqual(await consent(complainerId), {
      financial: ['subscribed', 'seeded', 'seed'],
      newsletter: ['unsubscribed', 'complained', 'mailgun'],
      outreach: ['unsubscribed', 'complained', 'mailgun'],
    });
    assert.equal((await subscriptionsOf(file.h.pool, unsubscriberId)).find((s) => s.stream === 'newsletter')?.campaignId, campaignId);
    const { counters } = await analyticsOf(campaignId);
    assert.deepEqual([counters.unsubscribed, counters.complained, counters.bounced, counters.temporaryFailed], [1, 1, 1, 1]);

    const others = recipients.filter((r) => ![unsubscriber, complainer, bouncer].includes(r));
    const next = await sentCampaign('after suppression', 0, ids);
    assert.deepEqual(next.recipients.sort(), [...others].sort(), 'the next newsletter leaves out all three');
    const outreach = await sentCampaign('outreach after suppression', 0, ids, 'outreach');
    assert.deepEqual(outreach.recipients.sort(), [...others, unsubscriber].sort(), 'outreach still reaches the newsletter unsubscriber');
    const statement = await sentCampaign('statement after suppression', 0, ids, 'financial');
    assert.deepEqual(statement.recipients.sort(), [...others, unsubscriber, complainer].sort(), 'statements reach everyone but the bounced address');

    const [bouncerId] = await idsOf([bouncer]);
    const lifted = await fetch(`${api.url}/suppressions/${encodeURIComponent(bouncer)}?reason=new+mailbox`, { method: 'DELETE', headers: { 'x-api-key': API_KEY } });
    assert.deepEqual(await lifted.json(), { userId: bouncerId, lifted: true, streamsLifted: [], unsubscribedKept: [] });
    const third = await sentCampaign('after lifting', 0, ids);
    assert.ok(third.recipients.includes(bouncer), 'a lifted suppression lets the address back in');
    assert.ok(!third.recipients.includes(complainer) && !third.recipients.includes(unsubscriber), 'opt-outs are not lifted with it');
  });

  test('webhooks lost for part of a campaign: reconciliation with Mailgun’s logs fills the gap, and the counts equal what Mailgun says happened', async () => {
    let n = 0;
    file.h.mailgun.configureWebhooks({ url: webhookUrl(), signingKey: SIGNING_KEY, drop: () => n++ % 3 === 0 });
    const { campaignId, recipients } = await sentCampaign('reconciliation', 40);
    recipients.forEach((recipient, i) => {
      file.h.mailgun.recordEngagement({ recipient, event: i === 7 ? 'failed' : 'delivered', ...(i === 7 ? { severity: 'permanent' as const } : {}) });
      if (i % 2 === 0) file.h.mailgun.recordEngagement({ recipient, event: 'opened' });
      if (i % 4 === 0) file.h.mailgun.recordEngagement({ recipient, event: 'opened' });
      if (i % 5 === 0) file.h.mailgun.recordEngagement({ recipient, event: 'clicked', url: `https://distronation.com/${i}` });
    });
    file.h.mailgun.recordEngagement({ recipient: recipients[1] ?? '', event: 'unsubscribed' });
    file.h.mailgun.recordEngagement({ recipient: recipients[3] ?? '', event: 'complained' });
    await file.h.mailgun.settleWebhooks();
    const stats = file.h.mailgun.webhookStats();
    assert.ok(stats.dropped > 10, `a third of the webhooks were lost (${stats.dropped})`);
    file.h.mailgun.configureWebhooks(null);

    const result = await file.h.campaigns.lifecycleResult(campaignId);
    assert.equal(result.status, 'archived');
    const expected = expectedCounters(eventsOf(campaignId));
    const { counters, final } = await analyticsOf(campaignId);
    assert.deepEqual(countersPart(counters, expected), expected);
    assert.equal(final, true);
    const sources = await file.h.pool.query<{ source: string; n: number }>(
      'SELECT source, count(*)::int AS n FROM mailgun_events WHERE campaign_id = $1 GROUP BY source ORDER BY source',
      [campaignId],
    );
    // Each event once, whichever way it came first: the campaign's refreshes reconcile every second here, so
    // some webhooks that did arrive may find their event already recorded from the logs (a duplicate).
    const by = Object.fromEntries(sources.rows.map((r) => [r.source, r.n]));
    assert.equal((by['reconciliation'] ?? 0) + (by['webhook'] ?? 0), stats.dropped + stats.posted, JSON.stringify(by));
    assert.ok((by['reconciliation'] ?? 0) >= stats.dropped, `reconciliation recorded at least the ${stats.dropped} lost: ${JSON.stringify(by)}`);
    // The analysis used the reconciled counters, and Firestore shows them.
    assert.equal(result.metrics?.delivered, expected.delivered);
    const doc = (await file.h.firestore.firestore.collection('campaignAnalytics').doc(campaignId).get()).data();
    assert.deepEqual([doc?.['delivered'], doc?.['uniqueOpened'], doc?.['final']], [expected.delivered, expected.uniqueOpened, true]);
  });

  test('Firestore down during a burst: the projection catches up afterwards, with no double counting', async () => {
    const { campaignId, recipients } = await sentCampaign('firestore outage', 30);
    await file.h.campaigns.lifecycleResult(campaignId);
    const [host, port] = file.h.stack.firestore.host.split(':');
    await file.h.stack.firestore.stop();

    const burst: MailgunEvent[] = [];
    for (let round = 0; round < 5; round++) {
      for (const recipient of recipients) burst.push(file.h.mailgun.recordEngagement({ recipient, event: round === 0 ? 'delivered' : 'opened' }));
    }
    // Every event once, a fifth of them twice, 16 requests at a time.
    const requests = [...burst, ...burst.filter((_, i) => i % 5 === 0)];
    for (let i = 0; i < requests.length; i += 16) {
      const answers = await Promise.all(requests.slice(i, i + 16).map((e) => postWebhook(webhookUrl(), signedBody(SIGNING_KEY, file.h.mailgun.webhookEventData(e)))));
      assert.ok(answers.every((a) => a.status === 200), 'Aurora records while Firestore is down');
    }
    const { counters } = await analyticsOf(campaignId);
    assert.deepEqual([counters.delivered, counters.opened, counters.uniqueOpened], [30, 120, 30]);

    revived = await startFirestoreEmulator({ port: Number(port), projectId: file.h.stack.firestore.projectId });
    assert.equal(revived.host, `${host}:${port}`);
    const doc = await waitFor(
      async () => {
        const data = (await file.h.firestore.firestore.collection('campaignAnalytics').doc(campaignId).get()).data();
        return data?.['opened'] === 120 ? data : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the projection to catch up' },
    );
    assert.deepEqual([doc['delivered'], doc['opened'], doc['uniqueOpened'], doc['openRate']], [30, 120, 30, 1]);
    const pending = await file.h.pool.query('SELECT 1 FROM campaign_stats WHERE campaign_id = $1 AND events_version > projected_version', [campaignId]);
    assert.equal(pending.rowCount, 0, 'nothing left to project');
  });

  test('analytics over a time range sum the campaigns that sent in it; the CLI reads the same figures and lifts suppressions', async () => {
    const get = async <T>(path: string) => {
      const response = await fetch(`${api.url}${path}`, { headers: { 'x-api-key': API_KEY } });
      return { status: response.status, body: (await response.json()) as T };
    };
    type Summary = { campaigns: number; counters: EngagementCounters; rates: { deliveryRate: number } };
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const { status, body: summary } = await get<Summary>(`/analytics?from=${from}&to=${to}&type=newsletter`);
    assert.equal(status, 200);
    const sent = await file.h.pool.query<{ id: string }>(`SELECT id::text FROM campaigns WHERE send_started_at IS NOT NULL AND type = 'newsletter'`);
    assert.equal(summary.campaigns, sent.rowCount);
    const each = await Promise.all(sent.rows.map((r) => analyticsOf(r.id)));
    for (const key of ['sent', 'delivered', 'opened', 'uniqueOpened', 'clicked', 'bounced', 'unsubscribed'] as const) {
      assert.equal(summary.counters[key], each.reduce((sum, a) => sum + a.counters[key], 0), key);
    }
    assert.equal(summary.rates.deliveryRate, Math.round((summary.counters.delivered / summary.counters.sent) * 10_000) / 10_000);
    assert.equal((await get<Summary>(`/analytics?from=${from}&to=${to}&type=financial`)).body.campaigns, 1, 'the statement sent after the opt-outs');
    const backwards = await get<{ error: { fields: Array<{ field: string }> } }>(`/analytics?from=${to}&to=${from}`);
    assert.deepEqual([backwards.status, backwards.body.error.fields.map((f) => f.field)], [400, ['from']]);

    const [campaign] = sent.rows;
    const shown = await runCli(['campaign', 'analytics', campaign?.id ?? ''], file.h.env);
    assert.equal(shown.code, 0, describeRun(shown));
    assert.deepEqual((JSON.parse(shown.stdout) as CampaignAnalytics).counters, (await analyticsOf(campaign?.id ?? '')).counters);
    const total = await runCli(['analytics', '--from', from, '--to', to, '--type', 'newsletter'], file.h.env);
    assert.deepEqual((JSON.parse(total.stdout) as Summary).counters, summary.counters);

    const listed = await runCli(['suppressions', 'list', '--reason', 'bounced'], file.h.env);
    const bounced = (JSON.parse(listed.stdout) as { items: Array<{ id: string; email: string }> }).items;
    assert.ok(bounced.length >= 1, describeRun(listed));
    const noReason = await runCli(['suppressions', 'lift', bounced[0]?.id ?? ''], file.h.env);
    assert.equal(noReason.code, 1);
    assert.match(noReason.stderr, /required option '--reason <why>' not specified/);
    const lifted = await runCli(['suppressions', 'lift', bounced[0]?.id ?? '', '--reason', 'mailbox fixed'], file.h.env);
    assert.deepEqual(JSON.parse(lifted.stdout), { userId: bounced[0]?.id, lifted: true, streamsLifted: [], unsubscribedKept: [] });
    const { rows } = await file.h.pool.query<{ actor: string; details: { reason: string } }>("SELECT actor, details FROM audit_log WHERE action = 'lift-suppression' ORDER BY id DESC LIMIT 1");
    assert.deepEqual([rows[0]?.actor.startsWith('cli:'), rows[0]?.details.reason], [true, 'mailbox fixed'], 'in the audit log, as the CLI user’s');
    const nobody = await runCli(['suppressions', 'lift', 'nobody@nowhere.example', '--reason', 'mailbox fixed'], file.h.env);
    assert.deepEqual([nobody.code, nobody.stderr.trim()], [1, 'error: no user nobody@nowhere.example']);
  });
});
