import { createHmac, randomBytes } from 'node:crypto';
import type { MailgunEvent } from '../../local-stack/mailgun-server.js';

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

/** The `event-data` Mailgun posts for an event. */
export function eventData(event: MailgunEvent): Record<string, unknown> {
  return {
    event: event.event,
    id: event.id,
    timestamp: event.timestamp,
    recipient: event.recipient,
    'recipient-domain': event.recipient.split('@')[1],
    message: { headers: { 'message-id': event.messageId } },
    'user-variables': event.userVariables,
    tags: [],
    ...(event.severity === undefined ? {} : { severity: event.severity }),
    ...(event.reason === undefined ? {} : { reason: event.reason }),
    ...(event.url === undefined ? {} : { url: event.url }),
  };
}

export function signedBody(key: string, data: Record<string, unknown>, signature: SignatureBlock = mailgunSignature(key)): string {
  return JSON.stringify({ signature, 'event-data': data });
}

export async function postWebhook(url: string, body: string): Promise<{ status: number; body: { status?: string; error?: { code: string } } }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: response.status, body: (await response.json()) as { status?: string; error?: { code: string } } };
}
