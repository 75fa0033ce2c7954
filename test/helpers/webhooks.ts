import { createHmac, randomBytes } from 'node:crypto';

/** Mailgun webhook requests built by hand, exactly as Mailgun builds them: for the cases the stand-in does not send. */

export interface SignatureBlock {
  timestamp: string;
  token: string;
  signature: string;
}

/** Mailgun's signature: HMAC-SHA256(key, timestamp + token), hex; `timestampMs` defaults to now. */
export function mailgunSignature(key: string, { timestampMs = Date.now(), token = randomBytes(25).toString('hex') } = {}): SignatureBlock {
  const timestamp = String(Math.floor(timestampMs / 1000));
  return { timestamp, token, signature: createHmac('sha256', key).update(timestamp + token).digest('hex') };
}

export function signedBody(key: string, data: unknown, signature: SignatureBlock = mailgunSignature(key)): string {
  return JSON.stringify({ signature, 'event-data': data });
}

export async function postWebhook(url: string, body: string): Promise<{ status: number; body: { status?: string; error?: { code: string } } }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: response.status, body: (await response.json()) as { status?: string; error?: { code: string } } };
}
