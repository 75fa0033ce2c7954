import { AnalyticsClient } from '../../client/analytics.js';
import { apiKeyOf } from '../../api/keys.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { startApiServer, type ApiServer } from '../../api/server.js';
import { CampaignClient, CampaignError, type CampaignReport } from '../../client/campaigns.js';
import type { LifecycleState } from '../../common/lifecycle.js';
import { isEligible } from '../../local-stack/seed.js';
import { lifecycleOptions, senderDomains } from '../../worker/config.js';
import { ROUTE_SCOPES } from '../../api/scopes.js';
import { setConsent, subscriptionsOf } from '../../db/subscriptions.js';
import { userIdsByEmail } from '../../db/users.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';

const file = harnessForFile({ users: 5000, seed: { mixed: true } });

const KEY = 'api-test-key-0123456789';
const OTHER_KEY = 'api-test-key-second-abcdef';
/** Scopes read (the CRM's dashboards) and read, write, send (the CRM's campaigns): issue 15's keys. */
const READ_KEY = 'api-test-key-reader-0123456';
const CRM_KEY = 'api-test-key-crm-0123456789';

let api: ApiServer;

interface Answer<T> {
  status: number;
  body: T;
}

/** One request to the running API, with the test key unless `key` says otherwise (null: no key). */
async function call<T = ErrorBody>(
  method: string,
  path: string,
  { body, key = KEY, headers = {} }: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: {
      ...(key === null ? {} : { 'x-api-key': key }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/, `${method} ${path} answers JSON`);
  return { status: response.status, body: (await response.json()) as T };
}

async function campaignRows(where = 'true', params: unknown[] = []): Promise<number> {
  const result = await file.h.pool.query<{ n: string }>(`SELECT count(*) AS n FROM campaigns WHERE ${where}`, params);
  return Number(result.rows[0]?.n);
}

function draft(name: string) {
  return { name, type: 'outreach', content: { subject: 'Hi', text: 'Hello' }, audience: { emailType: 'newsletter', limit: 10 } };
}

function sendMail(name: string, to: string[]) {
  return {
    to,
    subject: 'Your statement',
    html: '<p>Hello %recipient.name%</p>',
    from: 'Distro Nation <no-reply@mg.distronation.com>',
    campaign: { name, type: 'newsletter', month: 5, year: 2026 },
  };
}

// In a suite, so its hooks run after the harness's (root hooks run at once, side by side).
describe('trigger HTTP API', () => {
  before(async () => {
    api = await startApiServer({ campaigns: file.h.campaigns, analytics: new AnalyticsClient({ pool: file.h.pool }), apiKeys: [
        apiKeyOf('other', ['admin'], OTHER_KEY),
        apiKeyOf('ops', ['admin'], KEY),
        apiKeyOf('dashboard', ['read'], READ_KEY),
        apiKeyOf('crm', ['read', 'write', 'send'], CRM_KEY),
      ],
      host: '127.0.0.1',
      port: 0,
    });
  });
  after(() => api.stop());

  test('every route but /health and /openapi.json needs a valid x-api-key, and a refused request changes nothing', async () => {
    const rowsBefore = await campaignRows();
    const acceptedBefore = file.h.mailgun.accepted().length;
    const to = file.profiles.filter((p) => isEligible(p, 'newsletter')).slice(0, 2).map((p) => p.email);

    for (const key of [null, '', 'wrong', `${KEY}x`, KEY.slice(0, -1), KEY.toUpperCase()]) {
      const created = await call('POST', '/campaigns', { key, body: draft('Unauthorised') });
      assert.equal(created.status, 401, `key ${JSON.stringify(key)}`);
      assert.deepEqual(created.body, { error: { code: 'unauthorized', message: 'Missing or invalid x-api-key header' } });
    }
    assert.equal((await call('POST', '/send-mail', { key: 'wrong', body: sendMail('Unauthorised', to) })).status, 401);
    assert.equal((await call('GET', '/campaigns', { key: null })).status, 401);
    assert.equal((await call('GET', '/dn_users_list', { key: 'wrong' })).status, 401);
    // Whether a route exists is not told without a key either.
    assert.equal((await call('GET', '/no-such-route', { key: null })).status, 401);

    assert.equal(await campaignRows(), rowsBefore, 'no campaign row was written');
    assert.equal(file.h.mailgun.accepted().length, acceptedBefore, 'nothing was sent');

    // Both configured keys work; the public routes need none.
    assert.equal((await call('GET', '/campaigns?limit=1', { key: OTHER_KEY })).status, 200);
    assert.deepEqual(await call('GET', '/health', { key: null }), { status: 200, body: { ok: true } });
    assert.equal((await call('GET', '/openapi.json', { key: null })).status, 200);
  });

  test('bad bodies, queries and ids are 400s naming each field, and write nothing', async () => {
    const rowsBefore = await campaignRows();

    const badType = await call('POST', '/campaigns', { body: { ...draft('Bogus'), type: 'bogus' } });
    assert.equal(badType.status, 400);
    assert.equal(badType.body.error.code, 'invalid_request');
    assert.deepEqual(badType.body.error.fields?.map((f) => f.field), ['type']);

    const unknownField = await call('POST', '/campaigns', { body: { ...draft('Extra'), colour: 'red' } });
    assert.equal(unknownField.status, 400);
    assert.deepEqual(unknownField.body.error.fields?.map((f) => f.field), ['colour']);

    const noBody = await call('POST', '/campaigns', { body: { ...draft('No body'), content: { subject: 'Hi' } } });
    assert.equal(noBody.status, 400);
    assert.deepEqual(noBody.body.error.fields?.map((f) => f.field), ['content.html']);

    const longKey = await call('POST', '/campaigns', { body: draft('Long key'), headers: { 'idempotency-key': 'k'.repeat(201) } });
    assert.equal(longKey.status, 400);
    assert.deepEqual(longKey.body.error.fields?.map((f) => f.field), ['idempotency-key']);

    // Issue 15: ids past PostgreSQL's bigint passed the pattern and became 500s; bodies had no size.
    const rowsBeforeLimits = await campaignRows();
    const huge = '9999999999999999999';
    const overflowId = await call('GET', `/campaigns/${huge}`);
    assert.deepEqual([overflowId.status, overflowId.body.error.fields?.map((f) => f.field)], [400, ['id']]);
    assert.match(overflowId.body.error.fields?.[0]?.message ?? '', /at most 9223372036854775807/);
    assert.equal((await call('GET', '/campaigns/9223372036854775807')).status, 404, 'the largest bigint is an id, of nothing');
    const overflowCursor = await call('GET', `/campaigns?cursor=${huge}`);
    assert.deepEqual([overflowCursor.status, overflowCursor.body.error.fields?.map((f) => f.field)], [400, ['cursor']]);
    const overflowUsers = await call('POST', '/campaigns', { body: { ...draft('Overflow'), audience: { userIds: ['1', huge] } } });
    assert.deepEqual([overflowUsers.status, overflowUsers.body.error.fields?.map((f) => f.field)], [400, ['audience.userIds.1']]);
    const bigHtml = await call('POST', '/campaigns', { body: { ...draft('Big'), content: { subject: 'Hi', html: `<p>${'é'.repeat(300 * 1024)}</p>` } } });
    assert.deepEqual([bigHtml.status, bigHtml.body.error.fields?.map((f) => f.field)], [400, ['content.html']]);
    assert.match(bigHtml.body.error.fields?.[0]?.message ?? '', /at most 512 KB/);
    assert.equal(await campaignRows(), rowsBeforeLimits, 'nothing written');

    const malformed = await call('POST', '/campaigns', { body: '{"name": "Broken",' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.code, 'invalid_request');
    assert.match(malformed.body.error.message, /JSON/);

    const notJson = await fetch(`${api.url}/campaigns`, { method: 'POST', headers: { 'x-api-key': KEY }, body: 'name=x' });
    assert.equal(notJson.status, 415);
    assert.equal(((await notJson.json()) as ErrorBody).error.code, 'unsupported_media_type');

    const badQuery = await call('GET', '/campaigns?limit=0&status=nope');
    assert.equal(badQuery.status, 400);
    assert.deepEqual(badQuery.body.error.fields?.map((f) => f.field).sort(), ['limit', 'status']);

    const badId = await call('GET', '/campaigns/abc');
    assert.equal(badId.status, 400);
    assert.deepEqual(badId.body.error.fields?.map((f) => f.field), ['id']);

    const badResolution = await call('POST', '/campaigns/1/batches/x/resolve', { body: { as: 'maybe' } });
    assert.equal(badResolution.status, 400);
    assert.deepEqual(badResolution.body.error.fields?.map((f) => f.field).sort(), ['batchNo']);

    const staleShape = await call('PATCH', '/campaigns/1', { body: { expectedVersion: 0, changes: {} } });
    assert.equal(staleShape.status, 400);
    assert.deepEqual(staleShape.body.error.fields?.map((f) => f.field).sort(), ['changes', 'expectedVersion']);

    assert.equal(await campaignRows(), rowsBefore, 'no campaign row was written');
  });

  test('an unknown campaign or route is a 404', async () => {
    for (const [method, path] of [
      ['GET', '/campaigns/424242'],
      ['GET', '/campaigns/424242/progress'],
      ['POST', '/campaigns/424242/pause'],
      ['POST', '/campaigns/424242/cancel'],
    ] as const) {
      const answer = await call(method, path);
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.deepEqual(answer.body, { error: { code: 'not_found', message: 'campaign 424242 does not exist' } });
    }
    const patch = await call('PATCH', '/campaigns/424242', { body: { expectedVersion: 1, changes: { name: 'x' } } });
    assert.equal(patch.status, 404);

    const route = await call('GET', '/no-such-route');
    assert.equal(route.status, 404);
    assert.equal(route.body.error.code, 'not_found');
  });

  test('create (idempotent), read, list and edit a draft; a stale version is a 409 conflict', async () => {
    const name = `API draft ${Date.now()}`;
    const idempotencyKey = `create-${name}`;
    const first = await call<{ campaignId: string }>('POST', '/campaigns', { body: draft(name), headers: { 'idempotency-key': idempotencyKey } });
    assert.equal(first.status, 201);
    const { campaignId } = first.body;
    assert.match(campaignId, /^[1-9]\d*$/);
    const again = await call<{ campaignId: string }>('POST', '/campaigns', { body: draft(name), headers: { 'idempotency-key': idempotencyKey } });
    assert.deepEqual(again, first);
    assert.equal(await campaignRows('name = $1', [name]), 1);

    const report = await call<CampaignReport>('GET', `/campaigns/${campaignId}`);
    assert.equal(report.status, 200);
    assert.equal(report.body.campaign.id, campaignId);
    assert.equal(report.body.campaign.name, name);
    assert.equal(report.body.campaign.status, 'draft');
    for (const list of [report.body.ledger, report.body.unsettled, report.body.failedRecipients, report.body.transitions]) {
      assert.ok(Array.isArray(list), 'the report has its lists');
    }
    const version = report.body.lifecycle?.configVersion ?? report.body.campaign.configVersion;

    const listed = await call<{ items: Array<{ id: string }>; nextCursor?: string }>('GET', '/campaigns?type=outreach&status=draft&limit=100');
    assert.equal(listed.status, 200);
    assert.ok(listed.body.items.some((c) => c.id === campaignId), 'the list has the draft');

    const edit = { expectedVersion: version, changes: { name: `${name} (renamed)` } };
    const edited = await call<LifecycleState>('PATCH', `/campaigns/${campaignId}`, { body: edit });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.campaignId, campaignId);
    assert.ok(edited.body.configVersion > version, 'the edit made a new version');

    const stale = await call('PATCH', `/campaigns/${campaignId}`, { body: edit });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.code, 'conflict');
    assert.match(stale.body.error.message, /version/);

    const preview = await call<{ count: number }>('POST', `/campaigns/${campaignId}/preview-audience`);
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assert.equal(preview.body.count, 10);

    const progress = await call('GET', `/campaigns/${campaignId}/progress`);
    assert.equal(progress.status, 409, 'a draft has no send yet');
    assert.equal(progress.body.error.code, 'wrong_phase');

    // Approval carries the version the approver reviewed: the draft was edited since, so it is refused, and nothing is frozen.
    const reviewedStale = await call('POST', `/campaigns/${campaignId}/approve`, { body: { expectedVersion: version, sendAt: '2099-01-01T00:00:00Z' } });
    assert.equal(reviewedStale.status, 409);
    assert.equal(reviewedStale.body.error.code, 'conflict');
    assert.match(reviewedStale.body.error.message, new RegExp(`version ${version} was reviewed, the campaign is at version ${edited.body.configVersion}`));
    assert.equal((await call<CampaignReport>('GET', `/campaigns/${campaignId}`)).body.campaign.approvedAt, null, 'not approved');

    const cancelled = await call<{ campaignId: string; status: string }>('POST', `/campaigns/${campaignId}/cancel`);
    assert.deepEqual(cancelled, { status: 200, body: { campaignId, status: 'cancelled' } });
    const approve = await call('POST', `/campaigns/${campaignId}/approve`, { body: {} });
    assert.equal(approve.status, 409, 'a cancelled campaign cannot be approved');
    assert.equal(approve.body.error.code, 'wrong_phase');
  });

  test('an Idempotency-Key is the caller’s own, per route: another body under it is 422 and writes nothing; another key, or route, is another request', async () => {
    const name = `Keyed ${Date.now()}`;
    const headers = { 'idempotency-key': `key-${name}` };
    const first = await call<{ campaignId: string }>('POST', '/campaigns', { body: draft(name), headers });
    assert.equal(first.status, 201);
    const rowsBefore = await campaignRows();
    const changed = await call('POST', '/campaigns', { body: draft(`${name} (changed)`), headers });
    assert.equal(changed.status, 422);
    assert.equal(changed.body.error.code, 'idempotency_mismatch');
    assert.match(changed.body.error.message, /was used for a different request; use a new key/);
    assert.equal(await campaignRows(), rowsBefore, 'nothing written');
    // The same body with members in another order is the same request.
    const reordered = Object.fromEntries(Object.entries(draft(name)).reverse());
    assert.deepEqual(await call('POST', '/campaigns', { body: reordered, headers }), first);

    // Another API key's request under the same Idempotency-Key is its own.
    const other = await call<{ campaignId: string }>('POST', '/campaigns', { body: draft(name), headers, key: OTHER_KEY });
    assert.equal(other.status, 201);
    assert.notEqual(other.body.campaignId, first.body.campaignId);

    // Issue 15: the draft's key reused on /send-mail used to answer success for the draft, which never sends.
    const to = file.profiles.filter((p) => isEligible(p, 'newsletter')).slice(110, 112).map((p) => p.email);
    const mail = await call<{ success: boolean; campaign: { id: string } }>('POST', '/send-mail', { body: sendMail(`${name} mail`, to), headers });
    assert.equal(mail.status, 200, JSON.stringify(mail.body));
    assert.notEqual(mail.body.campaign.id, first.body.campaignId, 'a campaign of its own');
    await waitFor(() => file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === mail.body.campaign.id).length === to.length, { what: 'the mail to go out' });
    const mailAgain = await call('POST', '/send-mail', { body: sendMail(`${name} other mail`, to), headers });
    assert.equal(mailAgain.status, 422, 'and its key is not reused for another mail either');
  });

  test('POST /send-mail twice with one Idempotency-Key sends one campaign; unknown addresses are named', async () => {
    const recipients = file.profiles.filter((p) => isEligible(p, 'newsletter')).slice(100, 103);
    const to = recipients.map((p) => p.email);
    const name = `CRM mail ${Date.now()}`;
    const headers = { 'idempotency-key': `send-mail-${name}` };

    type Sent = { success: boolean; campaign: { id: string }; recipientCount: number };
    const first = await call<Sent>('POST', '/send-mail', { body: sendMail(name, to), headers });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const second = await call<Sent>('POST', '/send-mail', { body: sendMail(name, to), headers });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    for (const answer of [first, second]) {
      assert.equal(answer.body.success, true);
      assert.equal(answer.body.recipientCount, to.length);
    }
    const campaignId = first.body.campaign.id;
    assert.equal(second.body.campaign.id, campaignId);
    assert.equal(await campaignRows('name = $1', [name]), 1);

    // It goes straight to sending, once, to exactly those users.
    const received = () => file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId);
    await waitFor(() => received().length === to.length, { what: 'the send-mail campaign to be sent' });
    assert.deepEqual(received().map((m) => m.recipient).sort(), [...to].sort());

    // Progress from Aurora by default, from the send workflow itself with live=true: the same counts.
    type Progress = { status: string; total: number; sent: number; rate?: { domainPerSecond: number } };
    const stored = await waitFor(async () => {
      const answer = await call<Progress>('GET', `/campaigns/${campaignId}/progress`);
      return answer.body.sent === to.length ? answer : undefined;
    }, { what: 'Aurora to count the send' });
    assert.equal(stored.status, 200);
    assert.ok((stored.body.rate?.domainPerSecond ?? 0) > 0, 'with the domain’s rate budget');
    const live = await waitFor(async () => {
      const answer = await call<Progress>('GET', `/campaigns/${campaignId}/progress?live=true`);
      return answer.body.status === 'sent' ? answer : undefined;
    }, { what: 'the send to finish' });
    assert.deepEqual([live.body.total, live.body.sent], [to.length, to.length]);
    const report = await call<{ lifecycle: unknown }>('GET', `/campaigns/${campaignId}`);
    assert.equal(report.body.lifecycle, null, 'a plain read does not ask Temporal');
    const liveReport = await call<{ lifecycle: { campaignId: string } | null }>('GET', `/campaigns/${campaignId}?live=true`);
    assert.equal(liveReport.body.lifecycle?.campaignId, campaignId);

    const rowsBefore = await campaignRows();
    const unknown = await call('POST', '/send-mail', { body: sendMail(`${name} unknown`, [to[0] ?? '', 'nobody@example.com']) });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.code, 'invalid_request');
    assert.equal(unknown.body.error.fields?.length, 1);
    assert.match(unknown.body.error.fields?.[0]?.field ?? '', /(^|\.)to\.1$/);
    assert.match(unknown.body.error.fields?.[0]?.message ?? '', /nobody@example\.com/);

    const badAddress = await call('POST', '/send-mail', { body: sendMail(`${name} bad`, ['not-an-address']) });
    assert.equal(badAddress.status, 400);
    assert.deepEqual(badAddress.body.error.fields?.map((f) => f.field), ['to.0']);
    const reportsForNewsletter = await call('POST', '/send-mail', { body: { ...sendMail(`${name} reports`, to), attachReporting: true } });
    assert.equal(reportsForNewsletter.status, 400);
    assert.deepEqual(reportsForNewsletter.body.error.fields?.map((f) => f.field), ['attachReporting']);
    assert.match(reportsForNewsletter.body.error.fields?.[0]?.message ?? '', /financial campaigns only/);
    const foreignSender = await call('POST', '/send-mail', { body: { ...sendMail(`${name} foreign`, to), from: 'Someone <news@other.example>' } });
    assert.equal(foreignSender.status, 400);
    assert.match(foreignSender.body.error.fields?.[0]?.field ?? '', /(^|\.)from$/);
    assert.match(foreignSender.body.error.fields?.[0]?.message ?? '', /domain this deployment sends from/);
    const bareName = await call('POST', '/send-mail', { body: { ...sendMail(`${name} bare`, to), from: 'Distro Nation' } });
    assert.equal(bareName.status, 400);
    assert.match(bareName.body.error.fields?.[0]?.field ?? '', /(^|\.)from$/);
    assert.equal(await campaignRows(), rowsBefore, 'refused mail writes no campaign');
  });

  test('GET /dn_users_list pages through every active user once, in id order', async () => {
    type UserPage = { users: Array<{ id: string; email: string }>; nextCursor?: string };
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await call<UserPage>('GET', `/dn_users_list?limit=700${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.ok(page.body.users.length <= 700);
      seen.push(...page.body.users.map((u) => u.id));
      cursor = page.body.nextCursor;
      pages += 1;
      assert.ok(pages < 20, 'pagination ends');
    } while (cursor);

    const expected = (await file.h.pool.query<{ id: string }>(`SELECT id FROM users WHERE status = 'active' ORDER BY id`)).rows.map((r) => r.id);
    assert.equal(expected.length, file.profiles.filter((p) => p.status === 'active').length);
    assert.deepEqual(seen, expected);
    assert.equal(pages, Math.ceil(expected.length / 700));

    const filtered = await call<UserPage>('GET', '/dn_users_list?subscriptionStatus=unsubscribed&limit=5');
    assert.equal(filtered.status, 200);
    assert.equal(filtered.body.users.length, 5);
    const bad = await call('GET', '/dn_users_list?limit=5000&cursor=-1');
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.fields?.map((f) => f.field).sort(), ['cursor', 'limit']);
  });

  test('GET /openapi.json is an OpenAPI 3 document of every route, secured by x-api-key', async () => {
    type Doc = {
      openapi: string;
      info: { title: string };
      security: Array<Record<string, string[]>>;
      components: { securitySchemes: Record<string, { type: string; in: string; name: string }> };
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    const { status, body: doc } = await call<Doc>('GET', '/openapi.json', { key: null });
    assert.equal(status, 200);
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.info.title);
    assert.deepEqual(Object.values(doc.components.securitySchemes), [{ type: 'apiKey', in: 'header', name: 'x-api-key' }]);
    const [scheme] = Object.keys(doc.components.securitySchemes);
    assert.deepEqual(doc.security, [{ [scheme ?? '']: [] }]);

    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(routes.sort(), [
      'DELETE /suppressions/{user}',
      'GET /analytics',
      'GET /audit',
      'GET /campaigns',
      'GET /campaigns/{id}',
      'GET /campaigns/{id}/analytics',
      'GET /campaigns/{id}/progress',
      'GET /dn_users_list',
      'GET /health',
      'GET /ready',
      'GET /suppressions',
      'PATCH /campaigns/{id}',
      'POST /campaigns',
      'POST /campaigns/{id}/approve',
      'POST /campaigns/{id}/batches/{batchNo}/resolve',
      'POST /campaigns/{id}/cancel',
      'POST /campaigns/{id}/generate-content',
      'POST /campaigns/{id}/pause',
      'POST /campaigns/{id}/preview',
      'POST /campaigns/{id}/preview-audience',
      'POST /campaigns/{id}/resume',
      'POST /campaigns/{id}/retry-failed',
      'POST /send-mail',
    ]);
    assert.deepEqual(doc.paths['/health']?.['get']?.security, [], '/health is public');
    assert.deepEqual(doc.paths['/ready']?.['get']?.security, [], '/ready is public');
  });

  test('scopes: a key does what its scopes allow; 403 names the scope missing; every route of the document has one', async () => {
    const rowsBefore = await campaignRows();
    const read = await call('GET', '/campaigns?limit=1', { key: READ_KEY });
    assert.equal(read.status, 200);
    const refused: Array<[string, string, string, string, unknown?]> = [
      [READ_KEY, 'POST', '/campaigns', 'the key "dashboard" lacks the write scope that POST /campaigns needs', draft('Refused')],
      [READ_KEY, 'POST', '/send-mail', 'the key "dashboard" lacks the send scope that POST /send-mail needs', {}],
      [READ_KEY, 'POST', '/campaigns/1/cancel', 'the key "dashboard" lacks the send scope that POST /campaigns/{id}/cancel needs'],
      [CRM_KEY, 'POST', '/campaigns/1/batches/0/resolve', 'the key "crm" lacks the admin scope that POST /campaigns/{id}/batches/{batchNo}/resolve needs', { as: 'resend' }],
      [CRM_KEY, 'DELETE', '/suppressions/1?reason=because', 'the key "crm" lacks the admin scope that DELETE /suppressions/{user} needs'],
      [CRM_KEY, 'GET', '/audit', 'the key "crm" lacks the admin scope that GET /audit needs'],
    ];
    for (const [key, method, path, message, body] of refused) {
      const answer = await call(method, path, { key, ...(body === undefined ? {} : { body }) });
      assert.deepEqual([answer.status, answer.body.error.code, answer.body.error.message], [403, 'forbidden', message], `${method} ${path}`);
    }
    assert.equal(await campaignRows(), rowsBefore, 'nothing written');
    const created = await call<{ campaignId: string }>('POST', '/campaigns', { key: CRM_KEY, body: draft(`Scoped ${Date.now()}`) });
    assert.equal(created.status, 201, 'write lets the CRM create');

    // One table decides; every route the API serves is in it, and nothing else is.
    type Doc = { paths: Record<string, Record<string, { security?: unknown[] }>> };
    const doc = (await call<Doc>('GET', '/openapi.json', { key: null })).body;
    const protectedRoutes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).filter(([, op]) => op.security === undefined || op.security.length > 0).map(([m]) => `${m.toUpperCase()} ${path}`),
    );
    assert.deepEqual(protectedRoutes.sort(), ROUTE_SCOPES.map(([m, p]) => `${m} ${p}`).sort());
  });

  test('each key has its own rate: past its requests of the minute, 429 with Retry-After; another key goes on', async () => {
    const app = createApiApp({
      campaigns: file.h.campaigns,
      analytics: new AnalyticsClient({ pool: file.h.pool }),
      apiKeys: [apiKeyOf('busy', ['read'], READ_KEY), apiKeyOf('calm', ['read'], CRM_KEY)],
      keyRatePerMinute: 3,
    });
    const get = (key: string) => app.request('/campaigns?limit=1', { headers: { 'x-api-key': key } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(READ_KEY)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const refused = await get(READ_KEY);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.deepEqual(((await refused.json()) as ErrorBody).error.code, 'rate_limited');
    assert.equal((await get(CRM_KEY)).status, 200, 'counted per key');
    assert.equal((await app.request('/health')).status, 200, 'public routes are not counted');
  });

  test('the audit log: who did what to which campaign, with the request id; append-only; GET /audit is for admin, campaign show lists it', async () => {
    const name = `Audited ${Date.now()}`;
    const created = await call<{ campaignId: string }>('POST', '/campaigns', { key: CRM_KEY, body: draft(name), headers: { 'x-request-id': 'req-create-1' } });
    const { campaignId } = created.body;
    const version = (await call<CampaignReport>('GET', `/campaigns/${campaignId}`)).body.campaign.configVersion;
    const edit = { expectedVersion: version, changes: { name: `${name} (renamed)`, subject: 'Hello again' } };
    assert.equal((await call('PATCH', `/campaigns/${campaignId}`, { key: CRM_KEY, body: edit })).status, 200);
    assert.equal((await call('POST', `/campaigns/${campaignId}/cancel`, { key: KEY })).status, 200);

    type AuditPage = { items: Array<{ actor: string; action: string; campaignId: string | null; details: Record<string, unknown>; requestId: string | null }> };
    const audit = await call<AuditPage>('GET', `/audit?campaignId=${campaignId}`);
    assert.equal(audit.status, 200);
    assert.deepEqual(
      audit.body.items.map((e) => [e.actor, e.action, e.campaignId]),
      [['api:crm', 'create', campaignId], ['api:crm', 'configure', campaignId], ['api:ops', 'cancel', campaignId]],
    );
    assert.equal(audit.body.items[0]?.requestId, 'req-create-1', "the caller's request id");
    assert.deepEqual(audit.body.items[1]?.details, { expectedVersion: version, fields: ['name', 'subject'] }, 'the changed fields, never their content');
    assert.match(audit.body.items[2]?.requestId ?? '', /^[\w-]{8,}$/, 'or one of ours');
    const shown = await call<CampaignReport>('GET', `/campaigns/${campaignId}`);
    assert.deepEqual(shown.body.audit.map((e) => e.action), ['create', 'configure', 'cancel']);
    // (The status is written in the background: the cancel may answer first.)
    const transitions = await waitFor(async () => {
      const { body } = await call<CampaignReport>('GET', `/campaigns/${campaignId}`);
      return body.transitions.some((t) => t.status === 'cancelled') ? body.transitions.map((t) => [t.status, t.actor]) : undefined;
    }, { what: 'the cancel to be recorded' });
    assert.deepEqual(transitions, [['content-ready', 'api:crm'], ['cancelled', 'api:ops']], 'the transitions name who made each');
    const byActor = await call<AuditPage>('GET', '/audit?actor=api:ops&limit=1000');
    assert.ok(byActor.body.items.every((e) => e.actor === 'api:ops') && byActor.body.items.some((e) => e.campaignId === campaignId));

    await assert.rejects(file.h.pool.query("UPDATE audit_log SET actor = 'someone else'"), /audit_log is append-only: UPDATE refused/);
    await assert.rejects(file.h.pool.query('DELETE FROM audit_log'), /append-only: DELETE refused/);
    await assert.rejects(file.h.pool.query('TRUNCATE audit_log'), /append-only: TRUNCATE refused/);
  });

  test('lifting a suppression takes admin and a reason: a bounce and a complaint are lifted, what the person unsubscribed from stays', async () => {
    const person = file.profiles.filter((p) => isEligible(p, 'newsletter')).at(-1)?.email ?? assert.fail();
    const userId = (await userIdsByEmail(file.h.pool, [person])).get(person) ?? assert.fail();
    await file.h.pool.query("UPDATE users SET suppressed_at = now(), suppression_reason = 'bounced' WHERE id = $1", [userId]);
    await setConsent(file.h.pool, { userId, streams: ['newsletter'], status: 'unsubscribed', reason: 'complained', source: 'mailgun', campaignId: null });
    await setConsent(file.h.pool, { userId, streams: ['outreach'], status: 'unsubscribed', reason: 'unsubscribed', source: 'one-click', campaignId: null });

    const noReason = await call('DELETE', `/suppressions/${userId}`);
    assert.deepEqual([noReason.status, noReason.body.error.fields?.map((f) => f.field)], [400, ['reason']]);
    const lifted = await call<{ lifted: boolean; streamsLifted: string[]; unsubscribedKept: string[] }>(
      'DELETE',
      `/suppressions/${userId}?reason=${encodeURIComponent('the mailbox works again (ticket 4411)')}`,
    );
    assert.equal(lifted.status, 200, JSON.stringify(lifted.body));
    assert.deepEqual(lifted.body, { userId, lifted: true, streamsLifted: ['newsletter'], unsubscribedKept: ['outreach'] });
    const consent = Object.fromEntries((await subscriptionsOf(file.h.pool, userId)).map((s) => [s.stream, s.status]));
    assert.deepEqual([consent['newsletter'], consent['outreach']], ['subscribed', 'unsubscribed'], 'only the person can subscribe again');
    const audit = await call<{ items: Array<{ action: string; details: Record<string, unknown> }> }>('GET', '/audit?actor=api:ops&limit=1000');
    const entry = audit.body.items.filter((e) => e.action === 'lift-suppression').at(-1);
    assert.deepEqual(entry?.details, { userId, reason: 'the mailbox works again (ticket 4411)', lifted: true, streamsLifted: ['newsletter'] });
  });

  test('client errors map to their status; anything else is a bare 500, logged but never shown', async () => {
    /** A real client whose methods fail the ways the library and its dependencies can. */
    class FailingClient extends CampaignClient {
      override get(): Promise<CampaignReport> {
        return Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:5432 (password=hunter2)'));
      }
      override pause(): Promise<never> {
        return Promise.reject(new CampaignError('campaign 7 is cancelled: its lifecycle has ended', 'wrong-phase'));
      }
      override generateContent(): Promise<never> {
        return Promise.reject(new CampaignError('campaign 7: OpenAI is unavailable', 'upstream'));
      }
    }
    const logged: Array<{ details: object; message: string }> = [];
    const app = createApiApp({
      campaigns: new FailingClient({ pool: file.h.pool, taskQueue: 'unused', lifecycle: lifecycleOptions(file.h.config), senderDomains: senderDomains(file.h.config) }),
      analytics: new AnalyticsClient({ pool: file.h.pool }),
      apiKeys: [apiKeyOf('crm', ['admin'], KEY)],
      logger: { error: (details, message) => logged.push({ details, message }) },
    });
    const request = (method: string, path: string) => app.request(path, { method, headers: { 'x-api-key': KEY } });

    const crashed = await request('GET', '/campaigns/7');
    assert.equal(crashed.status, 500);
    const text = await crashed.text();
    assert.deepEqual(JSON.parse(text), { error: { code: 'internal_error', message: 'Internal server error' } });
    assert.doesNotMatch(text, /ECONNREFUSED|hunter2|\bat\s|\.ts:\d/);
    assert.equal(logged.length, 1, 'the real error is logged');
    assert.match(String((logged[0]?.details as { err?: Error }).err?.message), /ECONNREFUSED/);

    const paused = await request('POST', '/campaigns/7/pause');
    assert.equal(paused.status, 409);
    assert.deepEqual(await paused.json(), { error: { code: 'wrong_phase', message: 'campaign 7 is cancelled: its lifecycle has ended' } });

    const generated = await request('POST', '/campaigns/7/generate-content');
    assert.equal(generated.status, 502);
    assert.equal(((await generated.json()) as ErrorBody).error.code, 'upstream_error');
    assert.equal(logged.length, 1, 'known errors are not logged as failures');
  });
});
