import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { createOpenAIServer, type OpenAIServer } from '../../local-stack/openai-server.js';

const KEY = 'secret-openai-key';
const MODEL = 'gpt-4o-mini';

const DRAFT_SCHEMA = {
  type: 'object',
  properties: {
    subject: { type: 'string' },
    html: { type: 'string' },
    text: { type: 'string' },
  },
  required: ['subject', 'html', 'text'],
  additionalProperties: false,
};

type Params = ChatCompletionCreateParamsNonStreaming;

async function errorMessage(response: Response): Promise<string> {
  return ((await response.json()) as { error: { message: string } }).error.message;
}

function draftRequest(topic = 'Spring tour announcement for subscribers. Keep it short.'): Params {
  return {
    model: MODEL,
    messages: [
      { role: 'system', content: 'You write marketing emails. Answer with subject, html and text.' },
      { role: 'user', content: topic },
    ],
    response_format: { type: 'json_schema', json_schema: { name: 'email_draft', strict: true, schema: DRAFT_SCHEMA } },
  };
}

interface Draft {
  subject: string;
  html: string;
  text: string;
}

function parseDraft(content: string | null | undefined): Draft {
  assert.equal(typeof content, 'string');
  const parsed = JSON.parse(content as string) as Draft;
  assert.deepEqual(Object.keys(parsed).sort(), ['html', 'subject', 'text']);
  return parsed;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the request to fail');
}

describe('openai stand-in server', () => {
  let server: OpenAIServer;
  let client: OpenAI;

  before(async () => {
    server = createOpenAIServer({ apiKey: KEY });
    await server.start();
    client = new OpenAI({ apiKey: KEY, baseURL: `${server.url}/v1`, maxRetries: 0 });
  });

  after(async () => {
    await server.stop();
  });

  beforeEach(() => server.reset());

  test('binds 127.0.0.1 on a free port and uses the default key', async () => {
    const url = new URL(server.url);
    assert.equal(url.hostname, '127.0.0.1');
    assert.ok(Number(url.port) > 0);
    assert.equal(createOpenAIServer().apiKey, 'test-openai-key');
    assert.throws(() => createOpenAIServer().url, /only available after start/);

    const socket = connect(Number(url.port), '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.destroy();
  });

  test('answers a json_schema request with a labelled, deterministic placeholder draft', async () => {
    const first = await client.chat.completions.create(draftRequest());

    assert.equal(first.object, 'chat.completion');
    assert.equal(first.model, MODEL);
    assert.match(first.id, /^chatcmpl-/);
    assert.ok(Math.abs(first.created - Date.now() / 1000) < 60);
    assert.equal(first.choices.length, 1);
    const [choice] = first.choices;
    assert.ok(choice);
    assert.equal(choice.index, 0);
    assert.equal(choice.finish_reason, 'stop');
    assert.equal(choice.logprobs, null);
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.refusal, null);

    const draft = parseDraft(choice.message.content);
    assert.equal(draft.subject, '[Placeholder draft] Spring tour announcement for subscribers');
    const notice = 'Placeholder draft</strong> — written by the local stand-in, not by OpenAI.';
    assert.ok(draft.html.startsWith(`<p><strong>${notice}`));
    assert.match(draft.text, /^Placeholder draft — written by the local stand-in, not by OpenAI\./);
    assert.match(draft.text, /Spring tour announcement/);

    const request = draftRequest();
    const promptChars = request.messages.reduce((sum, m) => sum + (m.content as string).length, 0);
    const content = choice.message.content ?? '';
    assert.deepEqual(first.usage && { ...first.usage }, {
      prompt_tokens: Math.ceil(promptChars / 4),
      completion_tokens: Math.ceil(content.length / 4),
      total_tokens: Math.ceil(promptChars / 4) + Math.ceil(content.length / 4),
    });

    const second = await client.chat.completions.create(draftRequest());
    assert.equal(second.choices[0]?.message.content, content, 'same request, same content');
    assert.notEqual(second.id, first.id);

    const other = await client.chat.completions.create(draftRequest('Black Friday sale on merch'));
    const otherDraft = parseDraft(other.choices[0]?.message.content);
    assert.equal(otherDraft.subject, '[Placeholder draft] Black Friday sale on merch');
    assert.notEqual(otherDraft.text, draft.text);

    assert.equal(server.requests, 3);
    assert.equal(server.completions, 3);
    const received = server.received();
    assert.equal(received.length, 3);
    assert.equal(received[0]?.model, MODEL);
    assert.deepEqual(received[0]?.messages, request.messages);
    assert.deepEqual(received[0]?.response_format, request.response_format);
  });

  test('json_object and plain requests get subject/html/text JSON too; text parts count as the topic', async () => {
    const jsonObject = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'Answer in JSON with subject, html and text.' },
        { role: 'user', content: [{ type: 'text', text: 'Welcome series, email 1\nMore details here.' }] },
      ],
      response_format: { type: 'json_object' },
    });
    const subject = parseDraft(jsonObject.choices[0]?.message.content).subject;
    assert.equal(subject, '[Placeholder draft] Welcome series, email 1');

    const plain = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello <b>fans</b>' }],
    });
    const draft = parseDraft(plain.choices[0]?.message.content);
    assert.equal(draft.subject, '[Placeholder draft] Hello <b>fans</b>');
    assert.ok(draft.html.includes('Hello &#60;b&#62;fans&#60;/b&#62;'), 'the topic is escaped in html');
    assert.equal(server.received()[1]?.response_format, undefined);
  });

  test('a json_schema with other properties gets exactly those properties', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Product launch' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'launch',
          strict: true,
          schema: {
            type: 'object',
            properties: {
              subject: { type: 'string' },
              preheader: { type: 'string' },
              tone: { type: 'string', enum: ['friendly', 'formal'] },
              score: { type: ['number', 'null'] },
            },
            required: ['subject', 'preheader', 'tone', 'score'],
            additionalProperties: false,
          },
        },
      },
    });
    const parsed = JSON.parse(completion.choices[0]?.message.content ?? '') as Record<string, unknown>;
    assert.deepEqual(parsed, {
      subject: '[Placeholder draft] Product launch',
      preheader: '[Placeholder preheader] Product launch',
      tone: 'friendly',
      score: 0,
    });
  });

  test('refuses what OpenAI refuses, in its error shape', async () => {
    const missingJson = await rejection(
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Write an email' }],
        response_format: { type: 'json_object' },
      }),
    );
    assert.ok(missingJson instanceof OpenAI.BadRequestError);
    assert.match(missingJson.message, /must contain the word 'json'/);

    const loose = await rejection(
      client.chat.completions.create({
        ...draftRequest(),
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'email_draft',
            strict: true,
            schema: { ...DRAFT_SCHEMA, required: ['subject', 'html'] },
          },
        },
      }),
    );
    assert.ok(loose instanceof OpenAI.BadRequestError);
    assert.equal(loose.code, 'invalid_json_schema');
    assert.match(loose.message, /Missing 'text'/);

    const noModel = await rejection(
      client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] } as unknown as Params),
    );
    assert.ok(noModel instanceof OpenAI.BadRequestError);
    assert.equal(noModel.param, 'model');

    const noMessages = await rejection(
      client.chat.completions.create({ model: MODEL } as unknown as Params),
    );
    assert.ok(noMessages instanceof OpenAI.BadRequestError);
    assert.equal(noMessages.code, 'missing_required_parameter');
    assert.equal(noMessages.param, 'messages');

    const badJson = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: '{"model": "x", ',
    });
    assert.equal(badJson.status, 400);
    const body = (await badJson.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(String(body.error.message), /could not parse the JSON body/);

    const notFound = await fetch(`${server.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(notFound.status, 404);
    assert.match(await errorMessage(notFound), /Invalid URL \(POST \/v1\/embeddings\)/);

    assert.equal(server.requests, 5, 'every POST to the endpoint counts');
    assert.equal(server.completions, 0);
    assert.equal(server.received().length, 0, 'refused requests are not recorded');
  });

  test('a wrong or missing key is a 401 AuthenticationError', async () => {
    const wrong = new OpenAI({ apiKey: 'not-the-key', baseURL: `${server.url}/v1`, maxRetries: 0 });
    const err = await rejection(wrong.chat.completions.create(draftRequest()));
    assert.ok(err instanceof OpenAI.AuthenticationError, `got ${String(err)}`);
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_api_key');
    assert.equal(err.type, 'invalid_request_error');
    assert.ok(!err.message.includes('not-the-key'), 'the key is masked');

    const missing = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
    assert.equal(missing.status, 401);
    assert.match(await errorMessage(missing), /didn't provide an API key/);

    assert.equal(server.requests, 2);
    assert.equal(server.received().length, 0);
  });

  test('rate-limit: 429 RateLimitError with retry-after visible, and the fault is consumed', async () => {
    server.injectFaults({ kind: 'rate-limit', retryAfterSeconds: 7 });
    const err = await rejection(client.chat.completions.create(draftRequest()));
    assert.ok(err instanceof OpenAI.RateLimitError, `got ${String(err)}`);
    assert.equal(err.status, 429);
    assert.equal(err.headers.get('retry-after'), '7');
    assert.equal(err.code, 'rate_limit_exceeded');

    const next = await client.chat.completions.create(draftRequest());
    parseDraft(next.choices[0]?.message.content);
    assert.equal(server.faultsInjected['rate-limit'], 1);
    assert.equal(server.completions, 1);
  });

  test('server-error: 500 and 503 are InternalServerError', async () => {
    server.injectFaults({ kind: 'server-error' }, { kind: 'server-error', status: 503 });
    const first = await rejection(client.chat.completions.create(draftRequest()));
    assert.ok(first instanceof OpenAI.InternalServerError, `got ${String(first)}`);
    assert.equal(first.status, 500);
    assert.equal(first.type, 'server_error');
    const second = await rejection(client.chat.completions.create(draftRequest()));
    assert.ok(second instanceof OpenAI.InternalServerError);
    assert.equal(second.status, 503);
    assert.equal(server.faultsInjected['server-error'], 2);
    assert.equal(server.completions, 0);
    assert.equal(server.received().length, 2);
  });

  test('drop: the socket closes without an answer, an APIConnectionError', async () => {
    server.injectFaults({ kind: 'drop' });
    const err = await rejection(client.chat.completions.create(draftRequest()));
    assert.ok(err instanceof OpenAI.APIConnectionError, `got ${String(err)}`);
    assert.equal(err.status, undefined);
    assert.equal(server.faultsInjected.drop, 1);
    assert.equal(server.received().length, 1, 'the request was read before the drop');
  });

  test('slow: answers normally after the delay; a client timeout sees APIConnectionTimeoutError', async () => {
    server.injectFaults({ kind: 'slow', delayMs: 150 });
    const started = Date.now();
    const completion = await client.chat.completions.create(draftRequest());
    assert.ok(Date.now() - started >= 140, 'answered after the delay');
    parseDraft(completion.choices[0]?.message.content);
    assert.equal(server.completions, 1);

    server.injectFaults({ kind: 'slow', delayMs: 5_000 });
    const err = await rejection(client.chat.completions.create(draftRequest(), { timeout: 100 }));
    assert.ok(err instanceof OpenAI.APIConnectionTimeoutError, `got ${String(err)}`);
    assert.equal(server.faultsInjected.slow, 2);
    assert.equal(server.completions, 1, 'the abandoned answer is not counted');
  });

  test('slow: stop() does not wait for pending delays', async () => {
    const own = createOpenAIServer();
    await own.start();
    const ownClient = new OpenAI({ apiKey: own.apiKey, baseURL: `${own.url}/v1`, maxRetries: 0 });
    own.injectFaults({ kind: 'slow', delayMs: 60_000 });
    const pending = rejection(ownClient.chat.completions.create(draftRequest()));
    while (own.received().length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const started = Date.now();
    await own.stop();
    assert.ok(Date.now() - started < 1_000, 'stop() returned promptly');
    assert.ok((await pending) instanceof OpenAI.APIConnectionError);
  });

  test('malformed: a 200 whose content is not valid JSON', async () => {
    server.injectFaults({ kind: 'malformed' });
    const completion = await client.chat.completions.create(draftRequest());
    const content = completion.choices[0]?.message.content;
    assert.equal(typeof content, 'string');
    assert.ok(content?.startsWith('{"subject":'));
    assert.throws(() => JSON.parse(content ?? ''), SyntaxError);
    assert.equal(server.faultsInjected.malformed, 1);
    assert.equal(server.completions, 0);
  });

  test('wrong-shape: valid JSON without html', async () => {
    server.injectFaults({ kind: 'wrong-shape' });
    const completion = await client.chat.completions.create(draftRequest());
    const parsed = JSON.parse(completion.choices[0]?.message.content ?? '') as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed).sort(), ['subject', 'text']);
    assert.equal(server.faultsInjected['wrong-shape'], 1);
  });

  test('refusal: content null and message.refusal set', async () => {
    server.injectFaults({ kind: 'refusal' }, { kind: 'refusal', message: 'Not this one.' });
    const first = await client.chat.completions.create(draftRequest());
    assert.equal(first.choices[0]?.message.content, null);
    assert.match(first.choices[0]?.message.refusal ?? '', /can't help/);
    assert.equal(first.choices[0]?.finish_reason, 'stop');
    const second = await client.chat.completions.create(draftRequest());
    assert.equal(second.choices[0]?.message.refusal, 'Not this one.');
    assert.equal(server.faultsInjected.refusal, 2);
    assert.equal(server.completions, 0);
  });

  test('faults are consumed in order, so a retrying client gets through', async () => {
    server.injectFaults({ kind: 'rate-limit', retryAfterSeconds: 0 }, { kind: 'rate-limit', retryAfterSeconds: 0 });
    const retrying = new OpenAI({ apiKey: KEY, baseURL: `${server.url}/v1`, maxRetries: 2 });
    const completion = await retrying.chat.completions.create(draftRequest());
    parseDraft(completion.choices[0]?.message.content);
    assert.equal(server.requests, 3);
    assert.equal(server.completions, 1);
    assert.equal(server.received().length, 3);
    assert.deepEqual(server.received()[2], server.received()[0], 'the retries sent the same body');
  });

  test('rejects invalid faults', () => {
    assert.throws(() => server.injectFaults({ kind: 'slow', delayMs: -1 }), RangeError);
    assert.throws(() => server.injectFaults({ kind: 'server-error', status: 404 }), RangeError);
    assert.throws(() => server.injectFaults({ kind: 'nope' } as never), RangeError);
  });

  test('reset() clears counters, records and queued faults', async () => {
    server.injectFaults({ kind: 'server-error' }, { kind: 'refusal' }, { kind: 'drop' });
    await rejection(client.chat.completions.create(draftRequest()));
    await client.chat.completions.create(draftRequest());
    assert.equal(server.requests, 2);
    assert.equal(server.received().length, 2);
    assert.equal(server.faultsInjected['server-error'], 1);

    server.reset();
    assert.equal(server.requests, 0);
    assert.equal(server.completions, 0);
    assert.equal(server.received().length, 0);
    assert.deepEqual(Object.values(server.faultsInjected), [0, 0, 0, 0, 0, 0, 0]);

    const completion = await client.chat.completions.create(draftRequest());
    parseDraft(completion.choices[0]?.message.content);
    assert.equal(server.faultsInjected.drop, 0, 'the queued drop was discarded');
    assert.equal(server.completions, 1);
  });
});
