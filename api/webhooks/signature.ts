import { createHmac, timingSafeEqual } from 'node:crypto';

/** Mailgun's webhook signature: HMAC-SHA256(signing key, timestamp + token), hex. */

export interface WebhookSignature {
  timestamp: string;
  token: string;
  signature: string;
}

export type SignatureCheck = 'valid' | 'invalid' | 'stale';

export function signWebhook(signingKey: string, timestamp: string, token: string): string {
  return createHmac('sha256', signingKey).update(timestamp + token).digest('hex');
}

/**
 * `invalid` unless the signature matches (compared in constant time); `stale` when it matches
 * but its timestamp is more than `maxAgeMs` from `nowMs`, either way.
 */
export function checkSignature({ timestamp, token, signature }: WebhookSignature, signingKey: string, nowMs: number, maxAgeMs: number): SignatureCheck {
  const expected = Buffer.from(signWebhook(signingKey, timestamp, token), 'hex');
  const given = Buffer.from(/^[0-9a-f]{64}$/i.test(signature) ? signature : '', 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  const seconds = Number(timestamp);
  return Math.abs(nowMs - seconds * 1000) <= maxAgeMs ? 'valid' : 'stale';
}
