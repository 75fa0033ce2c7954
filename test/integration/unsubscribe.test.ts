import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ApiServer } from '../../api/server.js';
import { AnalyticsClient } from '../../client/analytics.js';
import type { Stream } from '../../common/streams.js';
import { UNSUBSCRIBE_PLACEHOLDER } from '../../consent/unsubscribe-links.js';
import { verifyUnsubscribeToken } from '../../consent/unsubscribe-token.js';
import { findCounters } from '../../db/analytics.js';
import { findCampaign } from '../../db/campaigns.js';
import { findBudget } from '../../db/rate-budget.js';
import { subscriptionsOf } from '../../db/subscriptions.js';
import { userIdsByEmail } from '../../db/users.js';
import type { AcceptedMessage } from '../../local-stack/mailgun-server.js';
import { LOCAL_POSTAL_ADDRESS, LOCAL_PUBLIC_URL, MAILGUN_TEST_DOMAIN } from '../../local-stack/stack.js';
import { startTestApi } from '../helpers/api.js';
import { acceptedFor } from '../helpers/delivery.js';
import { campaignError } from '../helpers/errors.js';
import { harnessForFile, waitFor, type RunningWorker } from '../helpers/harness.js';

/**
 * Unsubscribe links end to end: what each message carries (RFC 8058 headers per recipient, the
 * footer), the one-click POST a mail client sends, the preferences page's forms, and what the
 * next campaigns of each stream then do; and each stream's own sending domain, sender and IP pool.
 * Workers are started per test: some lack the settings, some have streams of their own.
 */

const file = harnessForFile({ users: 40, seed: { mixed: false }, worker: false });
const API_KEY = 'unsubscribe-test-key-0123456789';

let api: ApiServer;
let worker: RunningWorker | undefined;
let usersTaken = 0;

async function withWorker(settings: Record<string, string> = {}): Promise<void> {
  await worker?.stop();
  worker = await file.h.startWorker(settings);
}

async function ids(emails: string[]): Promise<string[]> {
  const byEmail = await userIdsByEmail(file.h.pool, emails);
  return emails.map((e) => byEmail.get(e) ?? assert.fail(e));
}

async function send(type: Stream, userIds: string[], content: { subject: string; text?: string; html?: string } = { subject: `a ${type}`, text: 'Hello %recipient.name%' }) {
  const campaignId = await file.h.campaigns.create({ name: `a ${type}`, type, content, audience: { userIds } });
  await file.h.campaigns.startSend(campaignId);
  await file.h.campaigns.result(campaignId);
  return { campaignId, messages: acceptedFor(file.h.mailgun, campaignId) };
}

/** The link's path on our test API (the stack's links point at the default local address). */
function pathOf(message: AcceptedMessage): string {
  const url = message.recipientVariables?.['unsubscribe_url'];
  assert.ok(typeof url === 'string', 'no unsubscribe_url');
  assert.ok(url.startsWith(`${LOCAL_PUBLIC_URL}/u/`), url);
  return url.slice(LOCAL_PUBLIC_URL.length);
}

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

async function consent(userId: string): Promise<Record<string, string>> {
  return Object.fromEntries((await subscriptionsOf(file.h.pool, userId)).map((s) => [s.stream, `${s.status}/${s.source}`]));
}

function nextUsers(n: number): string[] {
  const emails = file.profiles.slice(usersTaken, usersTaken + n).map((p) => p.email);
  usersTaken += n;
  return emails;
}

describe('unsubscribe links', () => {
  before(async () => {
    api = await startTestApi(file.h, { apiKey: API_KEY, unsubscribePerMinute: 1000 });
  });
  after(async () => {
    await worker?.stop();
    await api?.stop();
  });

  test('every newsletter message carries its recipient’s own one-click link, List-Id, a footer and its stream’s tags; statements carry none, and no click tracking', async () => {
    await withWorker();
    const emails = nextUsers(3);
    const userIds = await ids(emails);
    const { campaignId, messages } = await send('newsletter', userIds);
    assert.equal(messages.length, 3);
    for (const message of messages) {
      const userId = userIds[emails.indexOf(message.recipient)] ?? assert.fail();
      const token = pathOf(message).slice('/u/'.length);
      assert.deepEqual(verifyUnsubscribeToken(token, file.h.env['UNSUBSCRIBE_SECRET'] ?? ''), { userId, stream: 'newsletter', campaignId });
      assert.ok(!token.includes(message.recipient.split('@')[0] ?? '') && !decodeURIComponent(token).includes('@'), 'no address in the link');
      assert.deepEqual(message.headers, {
        'List-Unsubscribe': `<${LOCAL_PUBLIC_URL}/u/${token}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'List-Id': `Distro Nation newsletter <newsletter.${MAILGUN_TEST_DOMAIN}>`,
      });
      assert.ok(message.text?.includes(UNSUBSCRIBE_PLACEHOLDER), 'the footer places the link');
      assert.ok(message.text?.includes(LOCAL_POSTAL_ADDRESS), 'and the postal address');
      assert.deepEqual([message.tags, message.options], [['stream-newsletter', `campaign-${campaignId}`], { 'tracking-opens': 'yes' }]);
    }
    const tokens = new Set(messages.map(pathOf));
    assert.equal(tokens.size, 3, 'each recipient has a link of their own');

    const statement = await send('financial', userIds);
    for (const message of statement.messages) {
      assert.deepEqual(message.headers, {});
      assert.equal(message.text, 'Hello %recipient.name%', 'statements get no footer by default');
      assert.equal(message.recipientVariables?.['unsubscribe_url'], undefined);
      assert.deepEqual(message.tags, ['stream-financial', `campaign-${statement.campaignId}`]);
      assert.deepEqual(message.options, { 'tracking-opens': 'no', 'tracking-clicks': 'no' }, 'signed links reach the artist unrewritten');
    }
  });

  test('with UNSUBSCRIBE_ON_STATEMENTS, statements carry the link too; content that places the link gets no footer', async () => {
    await withWorker({ UNSUBSCRIBE_ON_STATEMENTS: 'true' });
    const userIds = await ids(nextUsers(2));
    const statement = await send('financial', userIds);
    assert.ok(statement.messages.every((m) => m.headers['List-Unsubscribe-Post'] === 'List-Unsubscribe=One-Click' && m.text?.includes(LOCAL_POSTAL_ADDRESS)));
    const own = `Hello. <a href="${UNSUBSCRIBE_PLACEHOLDER}">Leave</a>`;
    const placed = await send('outreach', userIds, { subject: 'placed', html: own });
    assert.ok(placed.messages.length === 2 && placed.messages.every((m) => m.html === own && m.headers['List-Unsubscribe'] !== undefined));
  });

  test('a marketing campaign is not approved without link settings, or without a footer it can carry; the error names the setting', async () => {
    await withWorker({ PUBLIC_URL: '' });
    const userIds = await ids(nextUsers(1));
    const create = (content: { subject: string; text: string }) => file.h.campaigns.create({ name: 'no links', type: 'newsletter', content, audience: { userIds } });
    await assert.rejects(file.h.campaigns.startSend(await create({ subject: 's', text: 't' })), campaignError('invalid', /not configured: set PUBLIC_URL and UNSUBSCRIBE_SECRET/));
    const statement = await file.h.campaigns.create({ name: 'statement', type: 'financial', content: { subject: 's', text: 't' }, audience: { userIds } });
    await file.h.campaigns.startSend(statement);
    assert.equal((await file.h.campaigns.result(statement)).sent, 1, 'statements need no links');

    await withWorker({ SENDER_POSTAL_ADDRESS: '' });
    await assert.rejects(file.h.campaigns.startSend(await create({ subject: 's', text: 't' })), campaignError('invalid', /place %recipient\.unsubscribe_url% in its content, or set SENDER_POSTAL_ADDRESS/));
    const placed = await create({ subject: 's', text: `Bye: ${UNSUBSCRIBE_PLACEHOLDER}` });
    await file.h.campaigns.startSend(placed);
    assert.equal((await file.h.campaigns.result(placed)).sent, 1);
  });

  test('one-click unsubscribe: 200 twice, recorded once, counted once; the next newsletter leaves the person out, the next statement reaches them', async () => {
    await withWorker();
    const emails = nextUsers(3);
    const userIds = await ids(emails);
    const { campaignId, messages } = await send('newsletter', userIds);
    const leaver = messages.find((m) => m.recipient === emails[0]) ?? assert.fail();
    const [leaverId] = userIds as [string];

    for (let i = 0; i < 2; i++) {
      const answer = await fetch(`${api.url}${pathOf(leaver)}`, form({ 'List-Unsubscribe': 'One-Click' }));
      assert.equal(answer.status, 200, 'without an API key, every time');
    }
    assert.deepEqual(await consent(leaverId), { financial: 'subscribed/seed', newsletter: 'unsubscribed/one-click', outreach: 'subscribed/seed' });
    const row = (await subscriptionsOf(file.h.pool, leaverId)).find((s) => s.stream === 'newsletter');
    assert.deepEqual([row?.reason, row?.campaignId], ['unsubscribed', campaignId]);
    assert.equal((await new AnalyticsClient({ pool: file.h.pool }).campaign(campaignId)).counters.unsubscribed, 1, 'counted in the campaign’s analytics once');

    const next = await send('newsletter', userIds);
    assert.deepEqual(next.messages.map((m) => m.recipient).sort(), emails.slice(1).sort());
    const statement = await send('financial', userIds);
    assert.ok(statement.messages.some((m) => m.recipient === emails[0]), 'statements carry on');
  });

  test('a bad or altered token: a 400 page, and nothing changes', async () => {
    await withWorker();
    const emails = nextUsers(1);
    const [userId] = (await ids(emails)) as [string];
    const { messages } = await send('newsletter', [userId]);
    const path = pathOf(messages[0] ?? assert.fail());
    const before = await consent(userId);
    const [payload, tag] = path.slice('/u/'.length).split('.') as [string, string];
    const altered = [
      `/u/${payload}.${tag.slice(0, -2)}${tag.endsWith('AA') ? 'AB' : 'AA'}`,
      `/u/${Buffer.from(Buffer.from(payload, 'base64url').toString().replace('newsletter', 'financial')).toString('base64url')}.${tag}`,
      '/u/nonsense',
      `/u/${'x'.repeat(300)}`,
    ];
    for (const bad of altered) {
      const page = await fetch(`${api.url}${bad}`);
      assert.equal(page.status, 400, bad);
      assert.match(await page.text(), /This link does not work/);
      assert.equal((await fetch(`${api.url}${bad}`, form({ 'List-Unsubscribe': 'One-Click' }))).status, 400, bad);
    }
    assert.deepEqual(await consent(userId), before);
    const big = await fetch(`${api.url}${path}`, form({ 'List-Unsubscribe': 'One-Click', pad: 'x'.repeat(10_000) }));
    assert.equal(big.status, 413);
    assert.deepEqual(await consent(userId), before, 'an oversized request changes nothing');
  });

  test('the preferences page shows the person’s own streams; its forms unsubscribe one, all, and subscribe again', async () => {
    await withWorker();
    const emails = nextUsers(2);
    const [userId, otherId] = (await ids(emails)) as [string, string];
    const { messages } = await send('outreach', [userId, otherId]);
    const path = pathOf(messages.find((m) => m.recipient === emails[0]) ?? assert.fail());

    const page = await fetch(`${api.url}${path}`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Your email preferences/);
    assert.ok(!html.includes(emails[0] ?? '') && !html.includes(emails[1] ?? ''), 'no address on the page, theirs or anyone’s');
    assert.equal((html.match(/You receive these\./g) ?? []).length, 3);
    assert.deepEqual(await consent(userId), { financial: 'subscribed/seed', newsletter: 'subscribed/seed', outreach: 'subscribed/seed' }, 'a GET changes nothing');

    const one = await fetch(`${api.url}${path}`, form({ action: 'unsubscribe', stream: 'outreach' }));
    assert.equal(one.status, 200);
    assert.match(await one.text(), /Done: you are unsubscribed/);
    assert.deepEqual(await consent(userId), { financial: 'subscribed/seed', newsletter: 'subscribed/seed', outreach: 'unsubscribed/preferences' });

    const all = await fetch(`${api.url}${path}`, form({ action: 'unsubscribe-all' }));
    assert.match(await all.text(), /no more emails from Distro Nation/);
    assert.deepEqual(await consent(userId), { financial: 'unsubscribed/preferences', newsletter: 'unsubscribed/preferences', outreach: 'unsubscribed/preferences' });
    const again = await fetch(`${api.url}${path}`, form({ action: 'subscribe', stream: 'financial' }));
    assert.match(await again.text(), /subscribed again/);
    assert.equal((await consent(userId))['financial'], 'subscribed/preferences');
    assert.deepEqual(await consent(otherId), { financial: 'subscribed/seed', newsletter: 'subscribed/seed', outreach: 'subscribed/seed' }, 'nobody else changed');

    const nonsense = await fetch(`${api.url}${path}`, form({ action: 'subscribe', stream: 'everything' }));
    assert.equal(nonsense.status, 400);
  });

  test('the public routes are rate limited per client address: 429 with Retry-After once the minute’s requests are used', async () => {
    const limited = await startTestApi(file.h, { apiKey: API_KEY, unsubscribePerMinute: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${limited.url}/u/nonsense`)).status);
      const refused = await fetch(`${limited.url}/u/nonsense`, form({ 'List-Unsubscribe': 'One-Click' }));
      assert.deepEqual([...statuses, refused.status], [400, 400, 400, 429]);
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal((await fetch(`${limited.url}/health`)).status, 200, 'other routes are not limited by it');
    } finally {
      await limited.stop();
    }
  });
});

describe('sending streams', () => {
  after(async () => {
    await worker?.stop();
  });

  test('each stream goes out on its own domain, from its own sender, through its own IP pool; List-Id, the rate budget and reconciliation follow the domain', async () => {
    await withWorker({
      MAILGUN_DOMAIN_FINANCIAL: 'statements.test.example',
      MAILGUN_FROM_FINANCIAL: 'Distro Nation Royalties <royalties@statements.test.example>',
      MAILGUN_IP_POOL_FINANCIAL: 'pool-statements',
      MAILGUN_DOMAIN_OUTREACH: 'outreach.test.example',
      MAILGUN_FROM_OUTREACH: 'Distro Nation A&R <ar@outreach.test.example>',
    });
    const emails = nextUsers(2);
    const userIds = await ids(emails);
    const expected: Record<Stream, { domain: string; from: string; pool?: string }> = {
      financial: { domain: 'statements.test.example', from: 'Distro Nation Royalties <royalties@statements.test.example>', pool: 'pool-statements' },
      outreach: { domain: 'outreach.test.example', from: 'Distro Nation A&R <ar@outreach.test.example>' },
      newsletter: { domain: MAILGUN_TEST_DOMAIN, from: file.h.config.MAILGUN_FROM },
    };
    for (const stream of ['financial', 'outreach', 'newsletter'] as const) {
      const want = expected[stream];
      const campaignId = await file.h.campaigns.create({ name: `a ${stream}`, type: stream, content: { subject: `a ${stream}`, text: 'Hello' }, audience: { userIds } });
      await file.h.campaigns.startSend(campaignId);
      // Delivered while the campaign is tracked: with no webhooks here, only a reconciliation on the stream's domain finds these.
      await waitFor(() => acceptedFor(file.h.mailgun, campaignId).length === 2, { what: `${stream}: both messages accepted` });
      for (const email of emails) file.h.mailgun.recordEngagement({ recipient: email, event: 'delivered' });
      assert.equal((await file.h.campaigns.lifecycleResult(campaignId)).status, 'archived');

      const messages = acceptedFor(file.h.mailgun, campaignId);
      assert.deepEqual(messages.map((m) => [m.domain, m.from, m.options['sending-ip-pool']]), emails.map(() => [want.domain, want.from, want.pool]), stream);
      if (stream !== 'financial') {
        for (const m of messages) assert.equal(m.headers['List-Id'], `Distro Nation ${stream} <${stream}.${want.domain}>`);
      }
      const campaign = await findCampaign(file.h.pool, campaignId);
      assert.equal(campaign?.sendingDomain, want.domain, `${stream}: the domain is frozen at approval`);
      assert.equal(campaign?.frozenContent?.from, want.from, `${stream}: so is the sender`);
      assert.ok(await findBudget(file.h.pool, want.domain), `${stream}: its requests took slots in ${want.domain}'s budget`);
      assert.equal((await findCounters(file.h.pool, campaignId))?.delivered, 2, `${stream}: reconciled from ${want.domain}'s events`);
    }
  });
});

