import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyMailgunError } from '../../activities/mailgun-errors.js';

// Shapes measured from mailgun.js 14 against a local server (see local-stack/mailgun-server.ts).
const apiError = (status: number, message: string, details: string) => ({ type: 'MailgunAPIError', status, message, details });

test('a refused connection is reported by mailgun.js as status 400 but means nothing was sent', () => {
  const failure = classifyMailgunError(apiError(400, 'ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9'), 5000);
  assert.equal(failure.kind, 'not-sent');
});

test('a connection lost mid-request is ambiguous: Mailgun may have accepted the batch', () => {
  assert.equal(classifyMailgunError(apiError(400, 'ECONNRESET', 'socket hang up'), 5000).kind, 'ambiguous');
  assert.equal(classifyMailgunError(apiError(400, 'ECONNABORTED', 'timeout of 60000ms exceeded'), 5000).kind, 'ambiguous');
});

test('5xx answers and unknown errors are ambiguous', () => {
  assert.equal(classifyMailgunError(apiError(500, 'Internal Server Error', ''), 5000).kind, 'ambiguous');
  assert.equal(classifyMailgunError(apiError(503, 'Service Unavailable', ''), 5000).kind, 'ambiguous');
  assert.equal(classifyMailgunError(new TypeError('boom'), 5000).kind, 'ambiguous');
  assert.equal(classifyMailgunError('weird', 5000).kind, 'ambiguous');
});

test('429 is rate-limited, with retry-after from the body when present, else the default', () => {
  assert.deepEqual(classifyMailgunError(apiError(429, 'Too Many Requests', 'Too many requests'), 5000), {
    kind: 'rate-limited',
    retryAfterMs: 5000,
    message: 'Too Many Requests: Too many requests',
  });
  const hinted = classifyMailgunError(apiError(429, 'Too Many Requests', 'retry after 3 seconds'), 5000);
  assert.equal(hinted.kind === 'rate-limited' && hinted.retryAfterMs, 3000);
});

test('only a refused `to` address means split the batch; 401/403 are retried until fixed', () => {
  for (const wording of [
    "'to' parameter is not a valid address. please check documentation", // Mailgun's
    'to parameter is not a valid address. please check documentation', // the local stand-in's
  ]) {
    assert.deepEqual(classifyMailgunError(apiError(400, 'Bad Request', wording), 5000), {
      kind: 'invalid-recipient',
      status: 400,
      message: `Bad Request: ${wording}`,
    });
  }
  assert.equal(classifyMailgunError(apiError(401, 'Unauthorized', 'Forbidden'), 5000).kind, 'unauthorised');
  assert.equal(classifyMailgunError(apiError(403, 'Forbidden', ''), 5000).kind, 'unauthorised');
});

test('a refused sender is not a bad recipient: Mailgun refused our request, and nothing was sent', () => {
  // Issue 13 §3: the same words as a bad `to`, about `from`. Splitting the batch would fail every recipient.
  const badFrom = classifyMailgunError(apiError(400, 'Bad Request', "'from' parameter is not a valid address. please check documentation"), 5000);
  assert.deepEqual(badFrom, {
    kind: 'request-refused',
    status: 400,
    message: "Bad Request: 'from' parameter is not a valid address. please check documentation",
  });
  for (const wording of [
    'from parameter is not a valid address. please check documentation',
    "'cc' parameter is not a valid address. please check documentation",
    "'h:Reply-To' parameter is not a valid address. please check documentation",
    'from parameter is missing',
    'to parameter is missing',
    'subject parameter is missing',
    "Need at least one of 'text' or 'html' parameters specified",
    'Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total',
  ]) {
    assert.equal(classifyMailgunError(apiError(400, 'Bad Request', wording), 5000).kind, 'request-refused', wording);
  }
  for (const status of [402, 404, 413]) {
    assert.deepEqual(classifyMailgunError(apiError(status, 'Refused', 'Domain not found: mg.example.test'), 5000), {
      kind: 'request-refused',
      status,
      message: 'Refused: Domain not found: mg.example.test',
    });
  }
});
