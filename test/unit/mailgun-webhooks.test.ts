import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { toEventRecord, UnusableEventError } from '../../analytics/mailgun-events.js';
import { checkSignature } from '../../api/webhooks/signature.js';

const KEY = 'key-test-signing-0123456789abcdef';

function sign(timestamp: string, token: string, key = KEY): string {
  return createHmac('sha256', key).update(timestamp + token).digest('hex');
}

describe('webhook signature', () => {
  const now = 1_790_000_000_000;
  const timestamp = String(now / 1000);
  const token = 'a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0';

  test('a signature made with the key over timestamp + token is valid', () => {
    assert.equal(checkSignature({ timestamp, token, signature: sign(timestamp, token) }, KEY, now, 300_000), 'valid');
    assert.equal(checkSignature({ timestamp, token, signature: sign(timestamp, token).toUpperCase() }, KEY, now, 300_000), 'valid');
  });

  test('another key, another token, a truncated or non-hex signature is invalid', () => {
    assert.equal(checkSignature({ timestamp, token, signature: sign(timestamp, token, 'another-key-0123456789') }, KEY, now, 300_000), 'invalid');
    assert.equal(checkSignature({ timestamp, token: `${token}x`, signature: sign(timestamp, token) }, KEY, now, 300_000), 'invalid');
    assert.equal(checkSignature({ timestamp, token, signature: sign(timestamp, token).slice(0, 63) }, KEY, now, 300_000), 'invalid');
    assert.equal(checkSignature({ timestamp, token, signature: 'z'.repeat(64) }, KEY, now, 300_000), 'invalid');
  });

  test('a valid signature from outside the window, either way, is stale', () => {
    const old = String(now / 1000 - 301);
    const future = String(now / 1000 + 301);
    assert.equal(checkSignature({ timestamp: old, token, signature: sign(old, token) }, KEY, now, 300_000), 'stale');
    assert.equal(checkSignature({ timestamp: future, token, signature: sign(future, token) }, KEY, now, 300_000), 'stale');
    const edge = String(now / 1000 - 300);
    assert.equal(checkSignature({ timestamp: edge, token, signature: sign(edge, token) }, KEY, now, 300_000), 'valid');
  });
});

describe('Mailgun event records', () => {
  const base = {
    id: 'ev-1',
    timestamp: 1_790_000_000.25,
    recipient: 'Ann@Example.com',
    'user-variables': { campaign_id: '42', dn_batch: '42:1' },
    message: { headers: { 'message-id': '<20261127.1@mg.example.com>' } },
  };

  test('a webhook event: campaign from v:campaign_id, recipient lower-cased, bare message id, ISO time', () => {
    assert.deepEqual(toEventRecord({ ...base, event: 'opened' }), {
      eventId: 'ev-1',
      event: 'opened',
      campaignId: '42',
      recipient: 'ann@example.com',
      messageId: '20261127.1@mg.example.com',
      occurredAt: new Date(1_790_000_000_250).toISOString(),
      url: null,
      reason: null,
    });
  });

  test('failed splits by severity; clicks keep their url', () => {
    assert.equal(toEventRecord({ ...base, event: 'failed', severity: 'permanent', reason: 'bounce' }).event, 'permanent_fail');
    assert.equal(toEventRecord({ ...base, event: 'failed', severity: 'temporary' }).event, 'temporary_fail');
    assert.equal(toEventRecord({ ...base, event: 'clicked', url: 'https://distronation.com/x' }).url, 'https://distronation.com/x');
  });

  test('a Logs API item: @timestamp and user-variables as a JSON string', () => {
    const record = toEventRecord({ ...base, timestamp: undefined, event: 'delivered', '@timestamp': '2026-11-27T10:00:00.000Z', 'user-variables': '{"campaign_id":"7"}' });
    assert.deepEqual([record.campaignId, record.occurredAt], ['7', '2026-11-27T10:00:00.000Z']);
    // mailgun.js's logs.list() hands @timestamp over as a Date.
    const parsed = toEventRecord({ ...base, timestamp: undefined, event: 'delivered', '@timestamp': new Date('2026-11-27T10:00:00.000Z') });
    assert.equal(parsed.occurredAt, '2026-11-27T10:00:00.000Z');
  });

  test('mail that is no campaign’s, or a preview, is attributed to none', () => {
    assert.equal(toEventRecord({ ...base, event: 'delivered', 'user-variables': {} }).campaignId, null);
    assert.equal(toEventRecord({ ...base, event: 'delivered', 'user-variables': { campaign_id: 'drop table' } }).campaignId, null);
    assert.equal(toEventRecord({ ...base, event: 'opened', 'user-variables': { campaign_id: '42', dn_preview: '42:1' } }).campaignId, null);
  });

  test('an unusable event names each problem', () => {
    const problems = (raw: unknown) => {
      try {
        toEventRecord(raw);
      } catch (error) {
        assert.ok(error instanceof UnusableEventError);
        return error.problems.map((p) => p.field);
      }
      assert.fail('accepted');
    };
    assert.deepEqual(problems({ ...base, event: 'stored' }), ['event-data.event']);
    assert.deepEqual(problems({ ...base, event: 'failed' }), ['event-data.severity']);
    assert.deepEqual(problems({ ...base, event: 'clicked' }), ['event-data.url']);
    assert.deepEqual(problems({ event: 'opened', recipient: 'a@b.co' }).sort(), ['event-data.id']);
    assert.deepEqual(problems({ ...base, event: 'opened', 'user-variables': '{not json' }), ['event-data.user-variables']);
    assert.deepEqual(problems('nonsense'), ['event-data']);
  });
});
