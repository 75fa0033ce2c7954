import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import Mailgun from 'mailgun.js';
import { createMailgunServer, type MailgunServer } from '../../local-stack/mailgun-server.js';

const DOMAIN = 'mg.example.test';

type Client = ReturnType<Mailgun['client']>;
type Outcome = number | 'ok';

interface ApiError {
  status: number;
  message: string;
  details: string;
}

function isApiError(value: unknown): value is ApiError {
  return typeof value === 'object' && value !== null && 'status' in value && 'details' in value;
}

function message(to: string[], extra: Record<string, string> = {}) {
  return { from: 'Campaigns <campaigns@mg.example.test>', to, subject: 'Hello', text: 'Hi there', ...extra };
}

function recipients(count: number, prefix = 'user'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}@example.test`);
}

async function sendError(send: Promise<unknown>, what = 'the send'): Promise<ApiError> {
  try {
    await send;
  } catch (err) {
    assert.ok(isApiError(err), `expected a MailgunAPIError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${what} to fail`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function basicAuth(key: string): string {
  return `Basic ${Buffer.from(`api:${key}`).toString('base64')}`;
}

/** A Logs API filter as mailgun.js takes it: one condition, label = value. */
function logsFilter(attribute: string, values: string[], comparator = '=') {
  return { AND: [{ attribute, comparator, values: values.map((value) => ({ label: value, value })) }] };
}

async function outcome(send: Promise<unknown>): Promise<Outcome> {
  try {
    await send;
    return 'ok';
  } catch (err) {
    assert.ok(isApiError(err));
    return err.status;
  }
}

describe('mailgun stand-in server', () => {
  let server: MailgunServer;
  let mg: Client;
  const originalWarn = console.warn;

  before(async () => {
    // mailgun.js warns on every events.get call that it is deprecated in favour of logs.list.
    console.warn = (...args: unknown[]) => {
      if (!String(args[0]).includes('"events.get" method is deprecated')) originalWarn(...args);
    };
    server = createMailgunServer({ apiKey: 'secret-key' });
    await server.start();
    mg = new Mailgun(FormData).client({ username: 'api', key: 'secret-key', url: server.url });
  });

  after(async () => {
    console.warn = originalWarn;
    await server.stop();
  });

  beforeEach(() => server.reset());

  test('records a batch per recipient with its own recipient variables and the shared v: variables', async () => {
    const to = ['alice@example.test', 'bob@example.test', 'carol@example.test'];
    const result = await mg.messages.create(
      DOMAIN,
      message(to, {
        html: '<p>Hi %recipient.name%</p>',
        'recipient-variables': JSON.stringify({
          'alice@example.test': { name: 'Alice', id: 1 },
          'bob@example.test': { name: 'Bob', id: 2 },
          'carol@example.test': { name: 'Carol', id: 3 },
        }),
        'v:campaign-id': 'cmp-1',
        'v:batch-id': 'b-7',
      }),
    );

    assert.equal(result.status, 200);
    assert.equal(result.message, 'Queued. Thank you.');
    assert.match(result.id ?? '', /^<\d{14}\..+@mg\.example\.test>$/);

    const accepted = server.accepted();
    assert.deepEqual(
      accepted.map((m) => [m.recipient, m.recipientVariables]),
      [
        ['alice@example.test', { name: 'Alice', id: 1 }],
        ['bob@example.test', { name: 'Bob', id: 2 }],
        ['carol@example.test', { name: 'Carol', id: 3 }],
      ],
    );
    for (const m of accepted) {
      assert.equal(m.messageId, result.id);
      assert.equal(m.domain, DOMAIN);
      assert.equal(m.subject, 'Hello');
      assert.equal(m.text, 'Hi there');
      assert.equal(m.html, '<p>Hi %recipient.name%</p>');
      assert.deepEqual(m.variables, { 'campaign-id': 'cmp-1', 'batch-id': 'b-7' });
    }
    assert.deepEqual([...server.countsByRecipient().values()], [1, 1, 1]);
    assert.equal(server.acceptedCount, 3);
    assert.equal(server.acceptedBatches, 1);
    assert.equal(server.requests, 1);
  });

  test('events.get finds the accepted event by recipient (case-insensitively) with its user-variables', async () => {
    const sent = await mg.messages.create(
      DOMAIN,
      message(['dave@example.test', 'erin@example.test'], { 'v:campaign-id': 'cmp-2' }),
    );

    const events = await mg.events.get(DOMAIN, { event: 'accepted', recipient: 'Dave@Example.test' });

    assert.equal(events.items.length, 1);
    const [event] = events.items;
    assert.equal(event?.event, 'accepted');
    assert.equal(event?.recipient, 'dave@example.test');
    assert.deepEqual(event?.['user-variables'], { 'campaign-id': 'cmp-2' });
    // Like real Mailgun: the event's Message-Id header has no angle brackets.
    assert.equal(`<${event?.message.headers['message-id']}>`, sent.id);
    assert.ok(Math.abs((event?.timestamp ?? 0) - Date.now() / 1000) < 60);
    assert.ok(events.pages.next?.page, 'paging urls parse into page tokens');

    const byId = await mg.events.get(DOMAIN, { 'message-id': sent.id?.slice(1, -1) ?? '' });
    assert.deepEqual(byId.items.map((item) => item.recipient).sort(), ['dave@example.test', 'erin@example.test']);
    const byIdAndRecipient = await mg.events.get(DOMAIN, { 'message-id': sent.id ?? '', recipient: 'erin@example.test' });
    assert.deepEqual(byIdAndRecipient.items.map((item) => item.recipient), ['erin@example.test']);
    assert.equal((await mg.events.get(DOMAIN, { 'message-id': 'nope@example.test' })).items.length, 0);

    const other = await mg.events.get(DOMAIN, { event: 'delivered', recipient: 'dave@example.test' });
    assert.equal(other.items.length, 0);
    const future = await mg.events.get(DOMAIN, { begin: String(Date.now() / 1000 + 3600), ascending: 'yes' });
    assert.equal(future.items.length, 0);
  });

  test('events pages through all events in order via the paging tokens', async () => {
    await mg.messages.create(DOMAIN, message(recipients(3, 'first')));
    await mg.messages.create(DOMAIN, message(recipients(2, 'second')));

    const seen: string[] = [];
    let page = await mg.events.get(DOMAIN, { ascending: 'yes', limit: 2 });
    while (page.items.length > 0) {
      seen.push(...page.items.map((item) => item.recipient));
      const next = page.pages.next?.page;
      assert.ok(next);
      page = await mg.events.get(DOMAIN, { page: next });
    }
    assert.deepEqual(seen, [...recipients(3, 'first'), ...recipients(2, 'second')]);

    const newest = await mg.events.get(DOMAIN, { limit: 1 });
    assert.equal(newest.items[0]?.recipient, 'second1@example.test');
  });

  test('rejects a wrong API key with 401', async () => {
    const wrong = new Mailgun(FormData).client({ username: 'api', key: 'wrong-key', url: server.url });
    const err = await sendError(wrong.messages.create(DOMAIN, message(['a@example.test'])));
    assert.equal(err.status, 401);
    await assert.rejects(wrong.events.get(DOMAIN), (e: unknown) => isApiError(e) && e.status === 401);
    assert.equal(server.acceptedCount, 0);
  });

  test('validates like Mailgun: too many recipients, invalid address, missing fields, bad recipient-variables', async () => {
    const tooMany = await sendError(mg.messages.create(DOMAIN, message(recipients(1001))));
    assert.equal(tooMany.status, 400);

    const invalid = await sendError(mg.messages.create(DOMAIN, message(['ok@example.test', 'not-an-address'])));
    assert.equal(invalid.status, 400);
    assert.match(invalid.details, /to parameter is not a valid address/);

    const noSubject = await sendError(
      mg.messages.create(DOMAIN, { from: 'a@mg.example.test', to: ['b@example.test'], text: 'x' }),
    );
    assert.equal(noSubject.status, 400);
    assert.match(noSubject.details, /subject parameter is missing/);

    const noBody = await sendError(
      mg.messages.create(DOMAIN, { from: 'a@mg.example.test', to: ['b@example.test'], subject: 's' } as never),
    );
    assert.equal(noBody.status, 400);

    const badJson = await sendError(
      mg.messages.create(DOMAIN, message(['b@example.test'], { 'recipient-variables': '{not json' })),
    );
    assert.equal(badJson.status, 400);

    const exactlyMax = await mg.messages.create(DOMAIN, message(recipients(1000)));
    assert.equal(exactlyMax.status, 200);
    assert.equal(server.acceptedCount, 1000);
    assert.equal(server.acceptedBatches, 1);
  });

  test('rate-limit fault: 429 with Retry-After, nothing recorded', async () => {
    server.injectFaults({ kind: 'rate-limit', retryAfterSeconds: 7 });
    const err = await sendError(mg.messages.create(DOMAIN, message(['a@example.test'])));
    assert.equal(err.status, 429);
    assert.equal(err.details, 'Too many requests');

    // mailgun.js drops response headers from its errors, so check Retry-After on the wire.
    server.injectFaults({ kind: 'rate-limit', retryAfterSeconds: 7 });
    const form = new FormData();
    for (const [key, value] of Object.entries(message(['a@example.test']))) form.append(key, String(value));
    const response = await fetch(`${server.url}/v3/${DOMAIN}/messages`, {
      method: 'POST',
      body: form,
      headers: { authorization: `Basic ${Buffer.from('api:secret-key').toString('base64')}` },
    });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), '7');
    assert.deepEqual(await response.json(), { message: 'Too many requests' });

    assert.equal(server.acceptedCount, 0);
    assert.equal(server.faultsInjected['rate-limit'], 2);
  });

  test('server-error fault: 5xx and not recorded', async () => {
    server.injectFaults({ kind: 'server-error' }, { kind: 'server-error', status: 503 });
    assert.equal((await sendError(mg.messages.create(DOMAIN, message(['a@example.test'])))).status, 500);
    assert.equal((await sendError(mg.messages.create(DOMAIN, message(['a@example.test'])))).status, 503);
    assert.equal(server.acceptedCount, 0);
    assert.equal(server.acceptedBatches, 0);
    assert.equal(server.requests, 2);
  });

  test('reject fault: permanent 400 with the given message', async () => {
    server.injectFaults({ kind: 'reject', message: 'Domain is disabled' });
    const err = await sendError(mg.messages.create(DOMAIN, message(['a@example.test'])));
    assert.equal(err.status, 400);
    assert.equal(err.details, 'Domain is disabled');
    assert.equal(server.acceptedCount, 0);
  });

  test('slow fault: accepted, but only after the delay', async () => {
    server.injectFaults({ kind: 'slow', delayMs: 150 });
    const started = Date.now();
    const result = await mg.messages.create(DOMAIN, message(['a@example.test']));
    assert.equal(result.status, 200);
    assert.ok(Date.now() - started >= 140, 'response was delayed');
    assert.equal(server.acceptedCount, 1);
  });

  test('accept-then-drop fault: the client sees a reset, yet the message was accepted and has events', async () => {
    server.injectFaults({ kind: 'accept-then-drop' });
    const err = await sendError(mg.messages.create(DOMAIN, message(['dropped@example.test'], { 'v:k': 'v' })));
    assert.equal(err.status, 400);
    assert.equal(err.message, 'ECONNRESET');
    assert.equal(err.details, 'socket hang up');

    assert.deepEqual(
      server.accepted().map((m) => m.recipient),
      ['dropped@example.test'],
    );
    assert.equal(server.acceptedBatches, 1);
    const events = await mg.events.get(DOMAIN, { event: 'accepted', recipient: 'dropped@example.test' });
    assert.equal(events.items.length, 1);
    assert.deepEqual(events.items[0]?.['user-variables'], { k: 'v' });

    // The connection is usable again afterwards.
    assert.equal((await mg.messages.create(DOMAIN, message(['next@example.test']))).status, 200);
  });

  test('scripted faults take precedence over random ones and are consumed in order', async () => {
    server.setRandomFaults({ serverError: 1 });
    server.injectFaults({ kind: 'rate-limit' }, { kind: 'reject' });
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 3; i++) outcomes.push(await outcome(mg.messages.create(DOMAIN, message(['a@example.test']))));
    assert.deepEqual(outcomes, [429, 400, 500]);
  });

  test('random faults are reproducible for a given seed', async () => {
    const config = { rateLimit: 0.2, serverError: 0.2, acceptThenDrop: 0.2, seed: 42 };
    const run = async (): Promise<{ outcomes: Outcome[]; accepted: number }> => {
      server.reset();
      server.setRandomFaults(config);
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 40; i++) {
        outcomes.push(await outcome(mg.messages.create(DOMAIN, message([`r${i}@example.test`]))));
      }
      return { outcomes, accepted: server.acceptedCount };
    };

    const first = await run();
    const faults = server.faultsInjected;
    const second = await run();

    assert.deepEqual(second, first);
    assert.deepEqual(server.faultsInjected, faults);
    assert.ok(faults['rate-limit'] > 0 && faults['server-error'] > 0 && faults['accept-then-drop'] > 0);
    assert.equal(first.outcomes.filter((o) => o === 429).length, faults['rate-limit']);
    // Dropped sends fail at the client yet are accepted.
    assert.equal(first.accepted, first.outcomes.filter((o) => o === 'ok').length + faults['accept-then-drop']);

    server.setRandomFaults(null);
    assert.equal(await outcome(mg.messages.create(DOMAIN, message(['calm@example.test']))), 'ok');
  });

  test('handles concurrent full batches', async () => {
    const batches = Array.from({ length: 10 }, (_, b) => recipients(1000, `b${b}-`));
    await Promise.all(batches.map((to) => mg.messages.create(DOMAIN, message(to))));
    assert.equal(server.acceptedCount, 10_000);
    assert.equal(server.acceptedBatches, 10);
    assert.equal(server.countsByRecipient().size, 10_000);
    const one = await mg.events.get(DOMAIN, { recipient: 'b7-999@example.test' });
    assert.equal(one.items.length, 1);
  });

  /** The Logs API on the wire, for what mailgun.js would refuse to send or hides from its result. */
  async function postLogs(
    body: unknown,
    key = 'secret-key',
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${server.url}/v1/analytics/logs`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { authorization: basicAuth(key), 'content-type': 'application/json' },
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  const anHourAgo = (): Date => new Date(Date.now() - 3_600_000);

  test('logs.list filters by recipient (case-insensitively) and pages with pagination tokens', async () => {
    const fan = 'fan@example.test';
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await mg.messages.create(
        DOMAIN,
        message([fan, `other${i}@example.test`], { 'v:campaign-id': 'cmp-9', 'v:batch-id': `b-${i}` }),
      );
      sent.push(result.id ?? '');
    }
    const start = anHourAgo();
    const query = { start, filter: logsFilter('recipient', [fan]) };

    const first = await mg.logs.list({ ...query, pagination: { limit: 2 } });
    assert.equal(first.status, 200);
    assert.equal(first.items.length, 2);
    assert.equal(first.aggregates.all, 3);
    assert.ok(first.pagination.next, 'a token for the next page');
    assert.ok(Math.abs(first.start.getTime() - start.getTime()) < 1000);
    assert.ok(Math.abs(first.end.getTime() - Date.now()) < 5000, 'end defaults to now');

    const second = await mg.logs.list({ ...query, pagination: { limit: 2, token: first.pagination.next } });
    assert.equal(second.items.length, 1);
    assert.equal(second.pagination.next, undefined, 'no token after the last page');

    const items = [...first.items, ...second.items];
    assert.deepEqual(
      items.map((item) => item.recipient),
      [fan, fan, fan],
    );
    // Like real Mailgun: the Message-Id header has no angle brackets; user-variables is a JSON string.
    assert.deepEqual(
      items.map((item) => `<${item.message?.headers?.['message-id']}>`),
      sent,
    );
    assert.deepEqual(
      items.map((item) => JSON.parse(item['user-variables'] ?? 'null') as unknown),
      [0, 1, 2].map((i) => ({ 'campaign-id': 'cmp-9', 'batch-id': `b-${i}` })),
    );
    assert.equal(new Set(items.map((item) => item.id)).size, 3);
    for (const item of items) {
      assert.equal(item.event, 'accepted');
      assert.deepEqual(item.domain, { name: DOMAIN });
      assert.equal(item['recipient-domain'], 'example.test');
      assert.equal(item.envelope?.targets, fan);
      assert.equal(item.flags?.['is-test-mode'], false);
      assert.equal(item.message?.headers?.to, fan);
      assert.equal(item.message?.headers?.subject, 'Hello');
      assert.equal(item.message?.headers?.from, 'Campaigns <campaigns@mg.example.test>');
      assert.ok(item['@timestamp'] instanceof Date && Math.abs(item['@timestamp'].getTime() - Date.now()) < 60_000);
    }

    const shouting = await mg.logs.list({ start, filter: logsFilter('recipient', ['FAN@Example.TEST']) });
    assert.equal(shouting.items.length, 3);

    // On the wire @timestamp is an ISO string with milliseconds, start/end RFC 2822.
    const raw = await postLogs({ start: 'Thu, 01 Jan 2026 00:00:00 -0000', filter: logsFilter('recipient', [fan]) });
    assert.equal(raw.status, 200);
    const [rawItem] = raw.json.items as Array<Record<string, unknown>>;
    assert.match(String(rawItem?.['@timestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(raw.json.start, 'Thu, 01 Jan 2026 00:00:00 -0000');
    assert.match(String(raw.json.end), /^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000$/);
  });

  test('logs.list filters by domain, message id and event type, and bounds by start/end', async () => {
    const OTHER = 'news.example.test';
    const main = await mg.messages.create(DOMAIN, message(['a@example.test', 'b@example.test']));
    await mg.messages.create(OTHER, message(['a@example.test']));
    const start = anHourAgo();
    const recipientsOf = async (query: Parameters<Client['logs']['list']>[0]): Promise<string[]> =>
      (await mg.logs.list(query)).items.map((item) => `${item.recipient}/${item.domain.name}`);

    assert.deepEqual(await recipientsOf({ start, filter: logsFilter('domain', [DOMAIN]) }), [
      `a@example.test/${DOMAIN}`,
      `b@example.test/${DOMAIN}`,
    ]);
    const other = [`a@example.test/${OTHER}`];
    assert.deepEqual(await recipientsOf({ start, filter: logsFilter('domain', [DOMAIN], '!=') }), other);
    assert.equal((await recipientsOf({ start, filter: logsFilter('domain', [DOMAIN, OTHER]) })).length, 3);
    assert.equal((await recipientsOf({ start })).length, 3, 'no filter: everything');

    // Message ids match with or without their angle brackets.
    const id = main.id ?? '';
    assert.equal((await recipientsOf({ start, filter: logsFilter('message-id', [id]) })).length, 2);
    assert.equal((await recipientsOf({ start, filter: logsFilter('message-id', [id.slice(1, -1)]) })).length, 2);
    assert.deepEqual(await recipientsOf({ start, filter: logsFilter('message-id', [id], '!=') }), other);

    // Conditions combine with AND.
    const both = {
      AND: [
        { attribute: 'recipient', comparator: '=', values: [{ label: 'a', value: 'a@example.test' }] },
        { attribute: 'domain', comparator: '!=', values: [{ label: 'main', value: DOMAIN }] },
      ],
    };
    assert.deepEqual(await recipientsOf({ start, filter: both }), other);

    // Only accepted events exist.
    assert.equal((await recipientsOf({ start, events: ['delivered', 'opened'] })).length, 0);
    assert.equal((await recipientsOf({ start, events: ['delivered', 'accepted'] })).length, 3);

    // Time bounds.
    assert.equal((await recipientsOf({ start: new Date(Date.now() + 3_600_000) })).length, 0);
    assert.equal((await recipientsOf({ start, end: new Date(Date.now() - 1_800_000) })).length, 0);

    const totals = await mg.logs.list({
      start,
      filter: logsFilter('domain', [DOMAIN]),
      include_totals: true,
      pagination: { limit: 1 },
    });
    assert.equal(totals.items.length, 1);
    assert.equal(totals.pagination.total, 2);
    assert.equal(totals.aggregates.all, 2);
  });

  test('logs.list sorts by timestamp:desc and pages backwards', async () => {
    for (let i = 0; i < 5; i++) await mg.messages.create(DOMAIN, message([`seq${i}@example.test`]));
    const start = anHourAgo();

    const collect = async (sort: string, limit: number): Promise<string[][]> => {
      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const page = await mg.logs.list({ start, pagination: { sort, limit, ...(token ? { token } : {}) } });
        pages.push(page.items.map((item) => item.recipient ?? ''));
        token = page.pagination.next;
      } while (token);
      return pages;
    };
    const seq = (...n: number[]) => n.map((i) => `seq${i}@example.test`);

    assert.deepEqual(await collect('timestamp:desc', 2), [seq(4, 3), seq(2, 1), seq(0)]);
    assert.deepEqual(await collect('timestamp:asc', 2), [seq(0, 1), seq(2, 3), seq(4)]);
    assert.deepEqual(await collect('timestamp:asc', 5), [seq(0, 1, 2, 3, 4)], 'a full last page has no next token');
    // The default order is ascending.
    assert.deepEqual(
      (await mg.logs.list({ start })).items.map((item) => item.recipient),
      seq(0, 1, 2, 3, 4),
    );
  });

  test('logs.list refuses bad queries with 400 naming the problem, and a wrong key with 401', async () => {
    const start = anHourAgo();
    const badAttribute = await sendError(mg.logs.list({ start, filter: logsFilter('tag', ['x']) }));
    assert.equal(badAttribute.status, 400);
    assert.match(badAttribute.details, /attribute 'tag'/);

    const badComparator = await sendError(
      mg.logs.list({ start, filter: logsFilter('recipient', ['a@example.test'], 'contains') }),
    );
    assert.equal(badComparator.status, 400);
    assert.match(badComparator.details, /comparator 'contains'/);

    const badSort = await sendError(mg.logs.list({ start, pagination: { sort: 'timestamp:sideways' } }));
    assert.equal(badSort.status, 400);
    assert.match(badSort.details, /sort/);

    const badToken = await sendError(mg.logs.list({ start, pagination: { token: 'not-a-token' } }));
    assert.equal(badToken.status, 400);
    assert.match(badToken.details, /token/);

    // What mailgun.js itself would refuse to send.
    for (const body of [{}, { start: '' }, { start: 'yesterday' }, { start: 'Tue, 31 Feb 2026 10:00:00 -0000' }]) {
      const response = await postLogs(body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(String(response.json.message), /'start'/);
    }
    const backwards = await postLogs({
      start: 'Thu, 27 Nov 2026 10:00:00 -0000',
      end: 'Wed, 26 Nov 2026 10:00:00 -0000',
    });
    assert.equal(backwards.status, 400);
    assert.equal((await postLogs('{not json')).status, 400);

    const wrong = new Mailgun(FormData).client({ username: 'api', key: 'wrong-key', url: server.url });
    await assert.rejects(wrong.logs.list({ start }), (e: unknown) => isApiError(e) && e.status === 401);
  });

  test('events lag: neither event API shows a message before eventsLagMs; accepted() is immediate', async () => {
    server.setEventsLag(300);
    assert.equal(server.eventsLagMs, 300);
    const start = anHourAgo();
    const late = 'late@example.test';
    await mg.messages.create(DOMAIN, message([late]));

    // Ground truth is immediate.
    assert.equal(server.acceptedCount, 1);
    assert.deepEqual(
      server.accepted().map((m) => m.recipient),
      [late],
    );
    assert.equal(server.countsByRecipient().get(late), 1);

    const logsCount = async (): Promise<number> =>
      (await mg.logs.list({ start, filter: logsFilter('recipient', [late]) })).items.length;
    const eventsCount = async (): Promise<number> => (await mg.events.get(DOMAIN, { recipient: late })).items.length;
    assert.equal(await logsCount(), 0);
    assert.equal(await eventsCount(), 0);
    assert.equal((await mg.logs.list({ start })).aggregates.all, 0);

    await sleep(400);
    assert.equal(await logsCount(), 1);
    assert.equal(await eventsCount(), 1);

    // The lag is a visibility cut-off, so changing it applies to messages already accepted.
    await mg.messages.create(DOMAIN, message(['later@example.test']));
    assert.equal((await mg.logs.list({ start })).items.length, 1);
    server.setEventsLag(0);
    assert.equal((await mg.logs.list({ start })).items.length, 2);

    assert.throws(() => server.setEventsLag(-1), RangeError);
    server.setEventsLag(1000);
    server.reset();
    assert.equal(server.eventsLagMs, 0, 'reset restores the constructor option');

    const lagged = createMailgunServer({ eventsLagMs: 250 });
    assert.equal(lagged.eventsLagMs, 250);
    lagged.setEventsLag(0);
    lagged.reset();
    assert.equal(lagged.eventsLagMs, 250);
    assert.throws(() => createMailgunServer({ eventsLagMs: Number.NaN }), RangeError);
  });

  test('test mode: accepted and logged with is-test-mode, but not a delivery', async () => {
    const trial = ['trial1@example.test', 'trial2@example.test'];
    const sent = await mg.messages.create(DOMAIN, message(trial, { 'o:testmode': 'yes', 'v:k': 'v' }));
    assert.equal(sent.status, 200);
    assert.equal(sent.message, 'Queued. Thank you.');

    assert.deepEqual(server.accepted(), []);
    assert.equal(server.acceptedCount, 0);
    assert.equal(server.countsByRecipient().size, 0);
    assert.equal(server.acceptedBatches, 0);
    assert.equal(server.testModeMessages, 2);
    assert.equal(server.requests, 1);

    await mg.messages.create(DOMAIN, message(['real@example.test']));
    await mg.messages.create(DOMAIN, message(['trial3@example.test'], { 'o:testmode': 'True' }));
    await mg.messages.create(DOMAIN, message(['real2@example.test'], { 'o:testmode': 'no' }));
    assert.deepEqual(
      server.accepted().map((m) => m.recipient),
      ['real@example.test', 'real2@example.test'],
    );
    assert.equal(server.acceptedCount, 2);
    assert.deepEqual([...server.countsByRecipient().keys()], ['real@example.test', 'real2@example.test']);
    assert.equal(server.acceptedBatches, 2);
    assert.equal(server.testModeMessages, 3);

    const logs = await mg.logs.list({ start: anHourAgo() });
    assert.deepEqual(
      logs.items.map((item) => [item.recipient, item.flags?.['is-test-mode']]),
      [
        ['trial1@example.test', true],
        ['trial2@example.test', true],
        ['real@example.test', false],
        ['trial3@example.test', true],
        ['real2@example.test', false],
      ],
    );
    assert.deepEqual(JSON.parse(logs.items[0]?.['user-variables'] ?? 'null'), { k: 'v' });
    const events = await mg.events.get(DOMAIN, { recipient: 'trial1@example.test' });
    assert.equal(events.items[0]?.flags['is-test-mode'], true);

    // Test-mode calls are ordinary API calls: faults apply to them too.
    server.injectFaults({ kind: 'server-error' });
    const err = await sendError(mg.messages.create(DOMAIN, message(['trial4@example.test'], { 'o:testmode': 'yes' })));
    assert.equal(err.status, 500);
    assert.equal(server.testModeMessages, 3);
    assert.equal(server.faultsInjected['server-error'], 1);
  });

  test('validates to addresses like Mailgun: a DNS host name and an RFC 5322 local part', async () => {
    const refused = [
      'fan@band_name.example',
      'a@b',
      'a..b@x.com',
      'a@-x.com',
      'no-at-sign',
      '.a@x.com',
      'a.@x.com',
      'a@x-.com',
      'a@x..com',
      'a@x.com.',
      'a@x.c',
      'a@x.123',
      'a@[127.0.0.1]',
      'a b@x.com',
      '@x.com',
      `${'l'.repeat(65)}@x.com`,
      `a@${'l'.repeat(64)}.com`,
      `a@${'abcdefghi.'.repeat(26)}com`,
      'Name <a@x.com',
      'Name a@x.com>',
      'Name <a@x.com> trailing',
      'ok@x.example, fan@band_name.example',
    ];
    for (const bad of refused) {
      const err = await sendError(mg.messages.create(DOMAIN, message(['ok@example.test', bad])), bad);
      assert.equal(err.status, 400, bad);
      assert.equal(err.details, 'to parameter is not a valid address. please check documentation', bad);
    }
    assert.equal(server.acceptedCount, 0, 'a bad address refuses the whole request');
    assert.equal(server.acceptedBatches, 0);

    await mg.messages.create(
      DOMAIN,
      message([
        'Artist <artist@x.example>',
        "o'brien+tag@sub.example.co",
        '"Doe, Jane" <jane@x.example>, plain@x.example',
        '"quoted local"@example.test',
        'UPPER@EXAMPLE.TEST',
        `${'l'.repeat(64)}@x.example`,
        'x@xn--bcher-kva.example',
        "!#$%&'*+/=?^_`{|}~-@a-b.c-d.example",
        `max@${'abcdefghi.'.repeat(25)}com`,
      ]),
    );
    assert.deepEqual(
      server.accepted().map((m) => m.recipient),
      [
        'artist@x.example',
        "o'brien+tag@sub.example.co",
        'jane@x.example',
        'plain@x.example',
        '"quoted local"@example.test',
        'UPPER@EXAMPLE.TEST',
        `${'l'.repeat(64)}@x.example`,
        'x@xn--bcher-kva.example',
        "!#$%&'*+/=?^_`{|}~-@a-b.c-d.example",
        `max@${'abcdefghi.'.repeat(25)}com`,
      ],
    );
  });

  test('stop() returns promptly even with keep-alive connections open', async () => {
    const other = createMailgunServer();
    await other.start();
    const client = new Mailgun(FormData).client({ username: 'api', key: 'test-key', url: other.url });
    await client.messages.create(DOMAIN, message(['a@example.test']));
    const started = Date.now();
    await other.stop();
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(client.messages.create(DOMAIN, message(['a@example.test'])));
  });
});
