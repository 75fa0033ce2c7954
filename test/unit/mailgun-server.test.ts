import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import Mailgun from 'mailgun.js';
import { createMailgunServer, type MailgunEvent, type MailgunServer } from '../../local-stack/mailgun-server.js';

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

interface PostedSignature {
  timestamp: string;
  token: string;
  signature: string;
}

/** What a webhook's `event-data` is expected to hold. */
interface PostedEvent {
  event: string;
  id: string;
  timestamp: number;
  recipient: string;
  'recipient-domain': string;
  message: { headers: { 'message-id': string } };
  'user-variables': Record<string, unknown>;
  tags: string[];
  severity?: string;
  reason?: string;
  'delivery-status'?: { code: number; message: string };
  url?: string;
}

interface Posted {
  headers: IncomingHttpHeaders;
  signature: PostedSignature;
  data: PostedEvent;
  /** Epoch ms it arrived. */
  at: number;
}

interface Receiver {
  url: string;
  received: Posted[];
  /** Most requests the receiver was answering at once. */
  maxConcurrent(): number;
  close(): Promise<void>;
}

/**
 * A webhook endpoint on 127.0.0.1: records each POST, then answers with the status `answer` gives for it
 * (the n-th request, 1-based), after `delayMs`.
 */
async function startReceiver(answer: (n: number, posted: Posted) => number = () => 200, delayMs = 0): Promise<Receiver> {
  const received: Posted[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const server = createServer((req, res) => {
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        signature: PostedSignature;
        'event-data': PostedEvent;
      };
      const posted = { headers: req.headers, signature: body.signature, data: body['event-data'], at: Date.now() };
      received.push(posted);
      const status = answer(received.length, posted);
      setTimeout(() => {
        concurrent--;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end('{}');
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/mailgun`,
    received,
    maxConcurrent: () => maxConcurrent,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Mailgun's scheme, checked independently of the server: hex HMAC-SHA256(key, timestamp + token). */
function isSignedWith(key: string, { timestamp, token, signature }: PostedSignature): boolean {
  return createHmac('sha256', key).update(timestamp + token).digest('hex') === signature;
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

    // No delivered or opened events were recorded.
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

  test('refuses a malformed from like Mailgun, before recording anything; accepts a mailbox with or without a display name', async () => {
    for (const bad of [
      'Distro Nation',
      'no-reply',
      'Distro Nation <no-reply>',
      'Distro Nation <no-reply@mg.example.test',
      'Distro Nation <no-reply@mg.example.test> trailing',
      'no-reply@mg_example.test',
      'a@mg.example.test, b@mg.example.test',
    ]) {
      const err = await sendError(mg.messages.create(DOMAIN, { ...message(['ok@example.test']), from: bad }), bad);
      assert.equal(err.status, 400, bad);
      assert.equal(err.details, "'from' parameter is not a valid address. please check documentation", bad);
    }
    assert.equal(server.acceptedCount, 0, 'a bad sender refuses the whole request');
    assert.equal(server.acceptedBatches, 0);

    const senders = [
      'no-reply@mg.example.test',
      'Distro Nation <no-reply@mg.example.test>',
      '"Distro Nation, Inc." <no-reply@mg.example.test>',
      '<no-reply@mg.example.test>',
    ];
    for (const from of senders) await mg.messages.create(DOMAIN, { ...message(['ok@example.test']), from });
    assert.equal(server.acceptedBatches, senders.length);
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

  // -------------------------------------------------------------------------------------------------------------
  // Engagement events

  /** Two messages to fan@ (older one cmp-1, newer one cmp-2, also to pal@), one test-mode message to trial@. */
  async function sendThree(): Promise<{ older: string; newer: string }> {
    const older = await mg.messages.create(DOMAIN, message(['fan@example.test'], { 'v:campaign_id': '1' }));
    const newer = await mg.messages.create(
      DOMAIN,
      message(['Fan@Example.test', 'pal@example.test'], { 'v:campaign_id': '2', 'v:batch': 'b-1' }),
    );
    await mg.messages.create(DOMAIN, message(['trial@example.test'], { 'o:testmode': 'yes' }));
    return { older: older.id ?? '', newer: newer.id ?? '' };
  }

  test('recordEngagement records events about accepted messages, with their user variables', async () => {
    const { older, newer } = await sendThree();

    const opened = server.recordEngagement({ recipient: 'FAN@example.test', event: 'opened' });
    assert.equal(opened.event, 'opened');
    assert.equal(opened.recipient, 'Fan@Example.test', 'the recipient as sent');
    assert.equal(`<${opened.messageId}>`, newer, 'the latest message to the recipient, its id bare');
    assert.deepEqual(opened.userVariables, { campaign_id: '2', batch: 'b-1' });
    assert.ok(Math.abs(opened.timestamp - Date.now() / 1000) < 5, 'epoch seconds');
    assert.deepEqual(
      [opened.severity, opened.reason, opened.url],
      [undefined, undefined, undefined],
    );

    // Any order: delivered after opened is the caller's choice.
    const delivered = server.recordEngagement({ recipient: 'fan@example.test', event: 'delivered', messageId: older });
    assert.equal(`<${delivered.messageId}>`, older);
    assert.deepEqual(delivered.userVariables, { campaign_id: '1' });
    const byBareId = server.recordEngagement({
      recipient: 'fan@example.test',
      event: 'clicked',
      messageId: older.slice(1, -1),
    });
    assert.equal(byBareId.url, 'https://example.com/');
    assert.equal(`<${byBareId.messageId}>`, older);
    const clicked = server.recordEngagement({
      recipient: 'pal@example.test',
      event: 'clicked',
      url: 'https://x.example/a?b=1',
    });
    assert.equal(clicked.url, 'https://x.example/a?b=1');
    const bounced = server.recordEngagement({ recipient: 'pal@example.test', event: 'failed' });
    assert.deepEqual([bounced.severity, bounced.reason], ['permanent', 'bounce']);
    const deferred = server.recordEngagement({ recipient: 'pal@example.test', event: 'failed', severity: 'temporary' });
    assert.deepEqual([deferred.severity, deferred.reason], ['temporary', 'generic']);
    const generic = server.recordEngagement({ recipient: 'pal@example.test', event: 'failed', reason: 'generic' });
    assert.deepEqual([generic.severity, generic.reason], ['permanent', 'generic']);
    const unsubscribed = server.recordEngagement({ recipient: 'fan@example.test', event: 'unsubscribed' });
    const complained = server.recordEngagement({ recipient: 'fan@example.test', event: 'complained' });

    const all = [opened, delivered, byBareId, clicked, bounced, deferred, generic, unsubscribed, complained];
    assert.deepEqual(server.engagementEvents(), all, 'in recording order');
    assert.equal(new Set(all.map((e) => e.id)).size, all.length);
    for (let i = 1; i < all.length; i++) {
      assert.ok((all[i]?.timestamp ?? 0) >= (all[i - 1]?.timestamp ?? Infinity), 'recording time never goes back');
    }
    // Deliveries stay about accepted messages only.
    assert.equal(server.acceptedCount, 3);
    assert.equal(server.accepted().length, 3);
    assert.deepEqual(Object.fromEntries(server.countsByRecipient()), {
      'fan@example.test': 1,
      'Fan@Example.test': 1,
      'pal@example.test': 1,
    });

    const refused: Array<[Parameters<MailgunServer['recordEngagement']>[0], RegExp]> = [
      [{ recipient: 'stranger@example.test', event: 'delivered' }, /no accepted message to stranger@example\.test/],
      [{ recipient: 'trial@example.test', event: 'opened' }, /test mode/],
      [
        { recipient: 'pal@example.test', event: 'opened', messageId: older },
        /no accepted message to pal@example\.test in message/,
      ],
      [{ recipient: 'fan@example.test', event: 'opened', severity: 'permanent' }, /severity is only for failed/],
      [{ recipient: 'fan@example.test', event: 'delivered', url: 'https://x.example/' }, /url is only for clicked/],
      [{ recipient: 'fan@example.test', event: 'clicked', reason: 'bounce' }, /reason is only for failed/],
      [{ recipient: 'fan@example.test', event: 'failed', severity: 'fatal' as 'permanent' }, /severity must be/],
      [{ recipient: 'fan@example.test', event: 'bounced' as 'failed' }, /unknown event "bounced"/],
    ];
    for (const [spec, error] of refused) assert.throws(() => server.recordEngagement(spec), error, JSON.stringify(spec));
    assert.equal(server.engagementEvents().length, all.length, 'nothing recorded by a refused call');

    server.reset();
    assert.deepEqual(server.engagementEvents(), []);
    assert.throws(() => server.recordEngagement({ recipient: 'fan@example.test', event: 'opened' }), /no accepted message/);
  });

  test('events.get lists engagement events with accepted ones in time order, filtered by event and severity', async () => {
    const { newer } = await sendThree();
    const begin = anHourAgo().toUTCString();
    const events: MailgunEvent[] = [
      server.recordEngagement({ recipient: 'pal@example.test', event: 'opened' }),
      server.recordEngagement({ recipient: 'pal@example.test', event: 'delivered' }),
      server.recordEngagement({ recipient: 'fan@example.test', event: 'clicked', url: 'https://x.example/r' }),
      server.recordEngagement({ recipient: 'fan@example.test', event: 'failed', severity: 'temporary', reason: 'generic' }),
      server.recordEngagement({ recipient: 'fan@example.test', event: 'failed' }),
    ];
    const [opened, delivered, clicked, deferred, bounced] = events;

    // As the outcome lookup of mailgun.js users asks.
    const engaged = await mg.events.get(DOMAIN, { event: 'opened OR clicked', begin, ascending: 'yes', limit: 300 });
    assert.deepEqual(
      engaged.items.map((item) => [item.event, item.id, item.recipient]),
      [
        ['opened', opened?.id, 'pal@example.test'],
        ['clicked', clicked?.id, 'Fan@Example.test'],
      ],
    );
    const [openedItem, clickedItem] = engaged.items;
    assert.equal(openedItem?.timestamp, opened?.timestamp);
    assert.equal(`<${openedItem?.message.headers['message-id']}>`, newer);
    assert.deepEqual(openedItem?.['user-variables'], { campaign_id: '2', batch: 'b-1' });
    assert.equal(openedItem?.['recipient-domain'], 'example.test');
    assert.deepEqual(openedItem?.tags, []);
    assert.equal(openedItem?.['delivery-status'], undefined);
    assert.ok(clickedItem && 'url' in clickedItem);
    assert.equal(clickedItem.url, 'https://x.example/r');

    const failed = await mg.events.get(DOMAIN, { event: 'failed', ascending: 'yes' });
    assert.deepEqual(
      failed.items.map((item) => [item.id, item.severity, item.reason, item['delivery-status'].code, item['log-level']]),
      [
        [deferred?.id, 'temporary', 'generic', 452, 'warn'],
        [bounced?.id, 'permanent', 'bounce', 550, 'error'],
      ],
    );
    assert.match(failed.items[1]?.['delivery-status'].message ?? '', /^5\.1\.1 /);
    const permanent = await mg.events.get(DOMAIN, { event: 'failed', severity: 'permanent' });
    assert.deepEqual(permanent.items.map((item) => item.id), [bounced?.id]);
    const bySeverityAlone = await mg.events.get(DOMAIN, { severity: 'temporary OR permanent', ascending: 'yes' });
    assert.deepEqual(bySeverityAlone.items.map((item) => item.id), [deferred?.id, bounced?.id]);
    const deliveredOnly = await mg.events.get(DOMAIN, { event: 'delivered' });
    assert.deepEqual(deliveredOnly.items.map((item) => [item.id, item['delivery-status'].code, item.envelope.targets]), [
      [delivered?.id, 250, 'pal@example.test'],
    ]);

    // Unfiltered, every event (test mode included), in time order; pages of 2 walk across the kinds.
    const seen: Array<[string, string]> = [];
    let page = await mg.events.get(DOMAIN, { ascending: 'yes', limit: 2 });
    while (page.items.length > 0) {
      seen.push(...page.items.map((item): [string, string] => [item.event, item.recipient]));
      const next = page.pages.next?.page;
      assert.ok(next);
      page = await mg.events.get(DOMAIN, { page: next });
    }
    assert.deepEqual(seen, [
      ['accepted', 'fan@example.test'],
      ['accepted', 'Fan@Example.test'],
      ['accepted', 'pal@example.test'],
      ['accepted', 'trial@example.test'],
      ['opened', 'pal@example.test'],
      ['delivered', 'pal@example.test'],
      ['clicked', 'Fan@Example.test'],
      ['failed', 'Fan@Example.test'],
      ['failed', 'Fan@Example.test'],
    ]);
    const newest = await mg.events.get(DOMAIN, { limit: 3 });
    assert.deepEqual(newest.items.map((item) => item.id), [bounced?.id, deferred?.id, clicked?.id]);

    // By recipient and by message id, engagement events come along.
    const pal = await mg.events.get(DOMAIN, { recipient: 'PAL@example.test', ascending: 'yes' });
    assert.deepEqual(pal.items.map((item) => item.event), ['accepted', 'opened', 'delivered']);
    const ofMessage = await mg.events.get(DOMAIN, {
      'message-id': newer,
      recipient: 'pal@example.test',
      event: 'accepted OR delivered',
      ascending: 'yes',
    });
    assert.deepEqual(ofMessage.items.map((item) => item.event), ['accepted', 'delivered']);
    const elsewhere = await mg.events.get('other.example.test', { event: 'opened' });
    assert.equal(elsewhere.items.length, 0, 'events stay in their domain');

    const badFilter = await sendError(mg.events.get(DOMAIN, { event: 'NOT accepted' }), 'an unsupported filter');
    assert.equal(badFilter.status, 400);
    assert.match(badFilter.details, /event filter/);
  });

  test('logs.list lists engagement events by name, with their fields, across pages and in both orders', async () => {
    const { older, newer } = await sendThree();
    const start = anHourAgo();
    const end = new Date(Date.now() + 60_000);
    const delivered = server.recordEngagement({ recipient: 'fan@example.test', event: 'delivered', messageId: older });
    const opened = server.recordEngagement({ recipient: 'fan@example.test', event: 'opened', messageId: older });
    const clicked = server.recordEngagement({ recipient: 'pal@example.test', event: 'clicked', url: 'https://x.example/c' });
    const bounced = server.recordEngagement({ recipient: 'pal@example.test', event: 'failed', reason: 'suppress-bounce' });
    const unsubscribed = server.recordEngagement({ recipient: 'pal@example.test', event: 'unsubscribed' });

    // As a mailgun.js user asks.
    const list = await mg.logs.list({
      start,
      end,
      events: ['delivered', 'opened'],
      filter: { AND: [{ attribute: 'domain', comparator: '=', values: [{ label: DOMAIN, value: DOMAIN }] }] },
      pagination: { sort: 'timestamp:asc', limit: 100 },
    });
    assert.deepEqual(
      list.items.map((item) => [item.event, item.id]),
      [
        ['delivered', delivered.id],
        ['opened', opened.id],
      ],
    );
    assert.equal(list.aggregates.all, 2);
    const [deliveredItem, openedItem] = list.items;
    assert.equal(deliveredItem?.['@timestamp'].getTime(), delivered.timestamp * 1000);
    assert.deepEqual(deliveredItem?.['delivery-status'], { 'attempt-no': 1, code: 250, message: 'OK', description: '' });
    assert.equal(deliveredItem?.envelope?.targets, 'fan@example.test');
    assert.equal(`<${openedItem?.message?.headers?.['message-id']}>`, older);
    assert.deepEqual(JSON.parse(openedItem?.['user-variables'] ?? 'null'), { campaign_id: '1' });
    assert.equal(openedItem?.recipient, 'fan@example.test');
    assert.deepEqual(openedItem?.domain, { name: DOMAIN });

    const failed = await mg.logs.list({ start, end, events: ['failed'] });
    assert.deepEqual(
      failed.items.map((item) => [item.id, item.severity, item.reason, item['delivery-status']?.code, item['log-level']]),
      [[bounced.id, 'permanent', 'suppress-bounce', 550, 'error']],
    );
    const clicks = await mg.logs.list({ start, end, events: ['CLICKED'] });
    assert.deepEqual(clicks.items.map((item) => [item.id, item.url]), [[clicked.id, 'https://x.example/c']]);
    assert.equal((await mg.logs.list({ start, events: ['stored'] })).items.length, 0, 'a kind never recorded');

    // Everything of pal@ and of the newer message, mixed kinds, page by page in both orders.
    const walk = async (sort: string, filter: ReturnType<typeof logsFilter>): Promise<string[][]> => {
      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const page = await mg.logs.list({ start, end, filter, pagination: { sort, limit: 2, ...(token ? { token } : {}) } });
        pages.push(page.items.map((item) => item.event));
        token = page.pagination.next;
      } while (token);
      return pages;
    };
    const pal = logsFilter('recipient', ['PAL@example.test']);
    assert.deepEqual(await walk('timestamp:asc', pal), [['accepted', 'clicked'], ['failed', 'unsubscribed']]);
    assert.deepEqual(await walk('timestamp:desc', pal), [['unsubscribed', 'failed'], ['clicked', 'accepted']]);
    assert.deepEqual(await walk('timestamp:asc', logsFilter('message-id', [newer])), [
      ['accepted', 'accepted'],
      ['clicked', 'failed'],
      ['unsubscribed'],
    ]);
    const withTotals = await mg.logs.list({
      start,
      end,
      events: ['accepted', 'unsubscribed'],
      include_totals: true,
      pagination: { limit: 1 },
    });
    assert.equal(withTotals.pagination.total, 5, '4 accepted (test mode included) and 1 unsubscribed');
    assert.equal((await mg.logs.list({ start, end })).aggregates.all, 9);
    assert.deepEqual(unsubscribed.userVariables, { campaign_id: '2', batch: 'b-1' });
  });

  test('events lag: engagement events show eventsLagMs after they were recorded; engagementEvents() is immediate', async () => {
    await mg.messages.create(DOMAIN, message(['slow@example.test']));
    await sleep(350);
    server.setEventsLag(300);
    const start = anHourAgo();
    const opened = server.recordEngagement({ recipient: 'slow@example.test', event: 'opened' });
    assert.deepEqual(server.engagementEvents(), [opened]);

    const kinds = async (): Promise<{ events: string[]; logs: string[] }> => ({
      events: (await mg.events.get(DOMAIN, { ascending: 'yes' })).items.map((item) => item.event),
      logs: (await mg.logs.list({ start })).items.map((item) => item.event),
    });
    assert.deepEqual(await kinds(), { events: ['accepted'], logs: ['accepted'] }, 'the accepted event is old enough');
    assert.equal((await mg.events.get(DOMAIN, { event: 'opened' })).items.length, 0);
    await sleep(400);
    assert.deepEqual(await kinds(), { events: ['accepted', 'opened'], logs: ['accepted', 'opened'] });
  });

  // -------------------------------------------------------------------------------------------------------------
  // Webhooks

  const SIGNING_KEY = 'whsec-test-signing-key';

  test('webhooks: engagement events are POSTed as JSON, signed like Mailgun, with the same ids as the APIs', async () => {
    const receiver = await startReceiver();
    try {
      const { newer } = await sendThree();
      server.configureWebhooks({ url: receiver.url, signingKey: SIGNING_KEY });
      await mg.messages.create(DOMAIN, message(['late@example.test']));
      const recorded = [
        server.recordEngagement({ recipient: 'pal@example.test', event: 'delivered' }),
        server.recordEngagement({ recipient: 'pal@example.test', event: 'opened' }),
        server.recordEngagement({ recipient: 'pal@example.test', event: 'clicked', url: 'https://x.example/w' }),
        server.recordEngagement({ recipient: 'fan@example.test', event: 'failed', severity: 'temporary' }),
        server.recordEngagement({ recipient: 'fan@example.test', event: 'unsubscribed' }),
        server.recordEngagement({ recipient: 'fan@example.test', event: 'complained' }),
      ];
      assert.equal(receiver.received.length, 0, 'posting never happens on the recording path');
      await server.settleWebhooks();

      assert.deepEqual(server.webhookStats(), { posted: 6, dropped: 0, failed: 0, attempts: 6 });
      assert.equal(receiver.received.length, 6, 'accepted events are not posted by default');
      const byId = new Map(receiver.received.map((posted) => [posted.data.id, posted]));
      const listed = await mg.events.get(DOMAIN, {
        event: 'delivered OR opened OR clicked OR failed OR unsubscribed OR complained',
        ascending: 'yes',
      });
      assert.deepEqual([...byId.keys()].sort(), listed.items.map((item) => item.id).sort(), 'same ids as the events API');
      const tokens = new Set<string>();
      for (const event of recorded) {
        const posted = byId.get(event.id);
        assert.ok(posted, `${event.event} was posted`);
        assert.equal(posted.headers['content-type'], 'application/json');
        assert.ok(isSignedWith(SIGNING_KEY, posted.signature), 'HMAC-SHA256(signing key, timestamp + token)');
        assert.ok(!isSignedWith('another-key', posted.signature));
        assert.match(posted.signature.timestamp, /^\d{10}$/);
        assert.ok(Math.abs(Number(posted.signature.timestamp) * 1000 - Date.now()) < 60_000);
        assert.match(posted.signature.token, /^[0-9a-f]{50}$/);
        tokens.add(posted.signature.token);
        const { data } = posted;
        assert.equal(data.event, event.event);
        assert.equal(data.timestamp, event.timestamp);
        assert.equal(data.recipient, event.recipient);
        assert.equal(data['recipient-domain'], event.recipient.slice(event.recipient.indexOf('@') + 1));
        assert.equal(data.message.headers['message-id'], event.messageId);
        assert.equal(`<${data.message.headers['message-id']}>`, newer);
        assert.deepEqual(data['user-variables'], { campaign_id: '2', batch: 'b-1' });
        assert.deepEqual(data.tags, []);
      }
      assert.equal(tokens.size, 6, 'a fresh token for every POST');
      const data = (kind: string): PostedEvent | undefined => receiver.received.find((p) => p.data.event === kind)?.data;
      assert.deepEqual(
        [data('failed')?.severity, data('failed')?.reason, data('failed')?.['delivery-status']?.code],
        ['temporary', 'generic', 452],
      );
      assert.equal(data('delivered')?.['delivery-status']?.code, 250);
      assert.equal(data('clicked')?.url, 'https://x.example/w');
      assert.equal(data('opened')?.severity, undefined);
      assert.equal(data('opened')?.url, undefined);
    } finally {
      await receiver.close();
    }
  });

  test('webhooks: accepted events only when configured, never for test mode, and only the configured kinds', async () => {
    const receiver = await startReceiver();
    try {
      server.configureWebhooks({ url: receiver.url, signingKey: SIGNING_KEY, events: ['accepted', 'failed'] });
      const sent = await mg.messages.create(DOMAIN, message(['a@example.test', 'b@example.test'], { 'v:campaign_id': '7' }));
      await mg.messages.create(DOMAIN, message(['trial@example.test'], { 'o:testmode': 'yes' }));
      server.recordEngagement({ recipient: 'a@example.test', event: 'delivered' });
      const failed = server.recordEngagement({ recipient: 'b@example.test', event: 'failed' });
      await server.settleWebhooks();

      assert.deepEqual(
        receiver.received.map((p) => [p.data.event, p.data.recipient]).sort(),
        [
          ['accepted', 'a@example.test'],
          ['accepted', 'b@example.test'],
          ['failed', 'b@example.test'],
        ],
      );
      const accepted = receiver.received.filter((p) => p.data.event === 'accepted');
      for (const posted of accepted) {
        assert.equal(`<${posted.data.message.headers['message-id']}>`, sent.id);
        assert.deepEqual(posted.data['user-variables'], { campaign_id: '7' });
        assert.ok(isSignedWith(SIGNING_KEY, posted.signature));
      }
      const logs = await mg.logs.list({
        start: anHourAgo(),
        events: ['accepted'],
        filter: logsFilter('message-id', [sent.id ?? '']),
      });
      assert.deepEqual(
        logs.items.map((item) => item.id).sort(),
        accepted.map((p) => p.data.id).sort(),
        'same ids as the Logs API',
      );
      assert.equal(receiver.received.find((p) => p.data.event === 'failed')?.data.id, failed.id);
      assert.deepEqual(server.webhookStats(), { posted: 3, dropped: 0, failed: 0, attempts: 3 });

      assert.throws(() => server.configureWebhooks({ url: 'not a url', signingKey: SIGNING_KEY }), TypeError);
      assert.throws(() => server.configureWebhooks({ url: receiver.url, signingKey: '' }), TypeError);
      assert.throws(() => server.configureWebhooks({ url: receiver.url, signingKey: 'k', concurrency: 0 }), RangeError);
      assert.throws(() => server.configureWebhooks({ url: receiver.url, signingKey: 'k', retryDelaysMs: [-1] }), RangeError);
      assert.throws(
        () => server.configureWebhooks({ url: receiver.url, signingKey: 'k', events: ['bounced' as 'failed'] }),
        RangeError,
      );
      assert.deepEqual(server.webhookStats().posted, 3, 'a refused configuration leaves the current one alone');

      server.configureWebhooks(null);
      server.recordEngagement({ recipient: 'a@example.test', event: 'opened' });
      await server.settleWebhooks();
      assert.equal(receiver.received.length, 3, 'nothing posted once webhooks are off');
      assert.deepEqual(server.webhookStats(), { posted: 0, dropped: 0, failed: 0, attempts: 0 });
    } finally {
      await receiver.close();
    }
  });

  test('webhooks: retried after a 500 or a network error, signed afresh; given up on 406 or when retries run out', async () => {
    // The first POST of every event gets 500, the retry 200.
    const seen = new Map<string, number>();
    const receiver = await startReceiver((_n, posted) => {
      const attempt = (seen.get(posted.data.id) ?? 0) + 1;
      seen.set(posted.data.id, attempt);
      if (posted.data.event === 'complained') return 406;
      if (posted.data.event === 'unsubscribed') return 503;
      return attempt === 1 ? 500 : 200;
    });
    try {
      await mg.messages.create(DOMAIN, message(['r@example.test']));
      server.configureWebhooks({ url: receiver.url, signingKey: SIGNING_KEY, retryDelaysMs: [100, 20] });
      const started = Date.now();
      const opened = server.recordEngagement({ recipient: 'r@example.test', event: 'opened' });
      await server.settleWebhooks();
      assert.ok(Date.now() - started >= 90, 'the retry waited its delay');
      const attempts = receiver.received.filter((p) => p.data.id === opened.id);
      assert.equal(attempts.length, 2);
      assert.ok(attempts[1] && attempts[0] && attempts[1].at - attempts[0].at >= 90);
      assert.notEqual(attempts[0]?.signature.token, attempts[1]?.signature.token, 'each attempt signed afresh');
      assert.ok(attempts.every((p) => isSignedWith(SIGNING_KEY, p.signature)));
      assert.deepEqual(attempts[0]?.data, attempts[1]?.data);
      assert.deepEqual(server.webhookStats(), { posted: 1, dropped: 0, failed: 0, attempts: 2 });

      // 406: no retry. 503 every time: three attempts (two delays), then given up.
      const complained = server.recordEngagement({ recipient: 'r@example.test', event: 'complained' });
      const unsubscribed = server.recordEngagement({ recipient: 'r@example.test', event: 'unsubscribed' });
      await server.settleWebhooks();
      assert.equal(seen.get(complained.id), 1);
      assert.equal(seen.get(unsubscribed.id), 3);
      assert.deepEqual(server.webhookStats(), { posted: 1, dropped: 0, failed: 2, attempts: 6 });
    } finally {
      await receiver.close();
    }

    // Nobody listening: a network error, retried like a 5xx.
    const gone = await startReceiver();
    await gone.close();
    server.configureWebhooks({ url: gone.url, signingKey: SIGNING_KEY, retryDelaysMs: [10] });
    server.recordEngagement({ recipient: 'r@example.test', event: 'delivered' });
    await server.settleWebhooks();
    assert.deepEqual(server.webhookStats(), { posted: 0, dropped: 0, failed: 1, attempts: 2 });
  });

  test('webhooks: drop loses chosen events, counted as dropped', async () => {
    const receiver = await startReceiver();
    try {
      await mg.messages.create(DOMAIN, message(['d@example.test', 'e@example.test']));
      const offered: string[] = [];
      server.configureWebhooks({
        url: receiver.url,
        signingKey: SIGNING_KEY,
        drop: (event) => {
          offered.push(`${event.event}:${event.recipient}`);
          return event.event === 'opened' && event.recipient === 'd@example.test';
        },
      });
      const lost = server.recordEngagement({ recipient: 'd@example.test', event: 'opened' });
      server.recordEngagement({ recipient: 'd@example.test', event: 'clicked' });
      server.recordEngagement({ recipient: 'e@example.test', event: 'opened' });
      await server.settleWebhooks();
      assert.deepEqual(offered, ['opened:d@example.test', 'clicked:d@example.test', 'opened:e@example.test']);
      assert.deepEqual(
        receiver.received.map((p) => `${p.data.event}:${p.data.recipient}`).sort(),
        ['clicked:d@example.test', 'opened:e@example.test'],
      );
      assert.deepEqual(server.webhookStats(), { posted: 2, dropped: 1, failed: 0, attempts: 2 });
      // A lost webhook is still an event: the APIs list it.
      const listed = await mg.events.get(DOMAIN, { event: 'opened', recipient: 'd@example.test' });
      assert.deepEqual(listed.items.map((item) => item.id), [lost.id]);
    } finally {
      await receiver.close();
    }
  });

  test('webhooks: settleWebhooks waits for slow answers and pending retries; concurrency caps POSTs in flight', async () => {
    const receiver = await startReceiver((n) => (n === 1 ? 500 : 200), 60);
    try {
      await mg.messages.create(DOMAIN, message(recipients(6, 'slow')));
      assert.equal(receiver.received.length, 0);
      await server.settleWebhooks(); // nothing configured: at once

      server.configureWebhooks({ url: receiver.url, signingKey: SIGNING_KEY, concurrency: 2, retryDelaysMs: [150] });
      const started = Date.now();
      for (const recipient of recipients(6, 'slow')) server.recordEngagement({ recipient, event: 'delivered' });
      await server.settleWebhooks();
      const took = Date.now() - started;

      assert.deepEqual(server.webhookStats(), { posted: 6, dropped: 0, failed: 0, attempts: 7 });
      assert.equal(receiver.received.length, 7);
      assert.equal(receiver.maxConcurrent(), 2);
      // The first answer (500) takes 60 ms and its retry waits 150 ms more, then takes 60 ms.
      assert.ok(took >= 260, `settled after the retry, in ${took} ms`);
      await server.settleWebhooks(); // already settled: at once
    } finally {
      await receiver.close();
    }
  });

  test('webhooks: reset and reconfiguring abandon pending deliveries and clear the stats', async () => {
    const receiver = await startReceiver(() => 500);
    try {
      await mg.messages.create(DOMAIN, message(['p@example.test']));
      server.configureWebhooks({ url: receiver.url, signingKey: SIGNING_KEY, retryDelaysMs: [5_000] });
      server.recordEngagement({ recipient: 'p@example.test', event: 'opened' });
      while (receiver.received.length === 0) await sleep(10);
      await sleep(50);
      assert.deepEqual(server.webhookStats(), { posted: 0, dropped: 0, failed: 0, attempts: 1 });

      const started = Date.now();
      server.configureWebhooks({ url: receiver.url, signingKey: SIGNING_KEY });
      await server.settleWebhooks();
      assert.ok(Date.now() - started < 1000, 'the retry waiting 5 s was abandoned');
      assert.deepEqual(server.webhookStats(), { posted: 0, dropped: 0, failed: 0, attempts: 0 });

      server.configureWebhooks({ url: receiver.url, signingKey: SIGNING_KEY, retryDelaysMs: [5_000] });
      server.recordEngagement({ recipient: 'p@example.test', event: 'clicked' });
      const settled = server.settleWebhooks();
      server.reset();
      await settled;
      assert.deepEqual(server.webhookStats(), { posted: 0, dropped: 0, failed: 0, attempts: 0 });
      await mg.messages.create(DOMAIN, message(['p@example.test']));
      server.recordEngagement({ recipient: 'p@example.test', event: 'opened' });
      await server.settleWebhooks();
      await sleep(50);
      assert.equal(receiver.received.length, 1, 'after reset, no webhooks are configured');
    } finally {
      await receiver.close();
    }
  });
});
