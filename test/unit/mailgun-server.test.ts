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

async function sendError(send: Promise<unknown>): Promise<ApiError> {
  try {
    await send;
  } catch (err) {
    assert.ok(isApiError(err), `expected a MailgunAPIError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the send to fail');
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
