import { createHmac, timingSafeEqual } from 'node:crypto';
import { STREAMS, type Stream } from '../common/streams.js';

/**
 * The token in an unsubscribe link: who (user id), which stream and which campaign, signed with
 * HMAC-SHA256 under a key from configuration. Verifying it needs no database lookup; it names no
 * email address; without the key no valid token can be made or altered (128 bits of tag).
 */

export interface UnsubscribeSubject {
  userId: string;
  stream: Stream;
  campaignId: string;
}

const VERSION = 'u1';
const TAG_BYTES = 16;
const ID = /^[1-9][0-9]{0,18}$/;

function tag(payload: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest().subarray(0, TAG_BYTES);
}

export function signUnsubscribeToken({ userId, stream, campaignId }: UnsubscribeSubject, secret: string): string {
  const payload = `${VERSION}.${userId}.${stream}.${campaignId}`;
  return `${Buffer.from(payload).toString('base64url')}.${tag(payload, secret).toString('base64url')}`;
}

/** The subject of a token signed with `secret`, or undefined for anything else (malformed, altered, another key). */
export function verifyUnsubscribeToken(token: string, secret: string): UnsubscribeSubject | undefined {
  if (token.length > 200) return undefined;
  const [encoded, signature, ...rest] = token.split('.');
  if (encoded === undefined || signature === undefined || rest.length > 0) return undefined;
  const payload = Buffer.from(encoded, 'base64url').toString();
  const given = Buffer.from(signature, 'base64url');
  const expected = tag(payload, secret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  // Canonical encodings only: the same subject has one token.
  if (Buffer.from(payload).toString('base64url') !== encoded || given.toString('base64url') !== signature) return undefined;
  const [version, userId, stream, campaignId, ...extra] = payload.split('.');
  if (version !== VERSION || extra.length > 0 || !userId || !ID.test(userId) || !campaignId || !ID.test(campaignId)) return undefined;
  if (!STREAMS.includes(stream as Stream)) return undefined;
  return { userId, stream: stream as Stream, campaignId };
}
