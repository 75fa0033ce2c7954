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

test('a 400 for a bad address means split the batch; another 400 is permanent; 401/403 are retried until fixed', () => {
  const badAddress = classifyMailgunError(apiError(400, 'Bad Request', 'to parameter is not a valid address. please check documentation'), 5000);
  assert.equal(badAddress.kind, 'invalid-recipient');
  const permanent = classifyMailgunError(apiError(400, 'Bad Request', 'from parameter is missing'), 5000);
  assert.equal(permanent.kind, 'permanent');
  assert.equal(classifyMailgunError(apiError(401, 'Unauthorized', 'Forbidden'), 5000).kind, 'unauthorised');
  assert.equal(classifyMailgunError(apiError(403, 'Forbidden', ''), 5000).kind, 'unauthorised');
});
