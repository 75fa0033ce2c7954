import { OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { toEventRecord, UnusableEventError } from '../../analytics/mailgun-events.js';
import type { MailgunEventRecord } from '../../common/engagement.js';
import { ApiError, type ApiLogger } from '../errors.js';
import { json } from '../schemas.js';
import type { ApiMetrics, WebhookResult } from '../../metrics/api.js';
import type { EventRecorder } from '../webhooks/recorder.js';
import { checkSignature } from '../webhooks/signature.js';
import { rateLimit, refuseAsJson } from '../rate-limit.js';

/**
 * Mailgun's webhooks. Mailgun retries a delivery until it gets 200 or 406, so: 200 once the
 * event is committed (or was already); 406 for a signed payload we can never use; 401 for a
 * request Mailgun did not sign just now (a bad signature, a stale timestamp, a token used
 * before); 503 when we could not record it, so Mailgun tries again.
 */

export const MAILGUN_WEBHOOK_PATH = '/webhooks/mailgun';

/** Mailgun's event payloads are a few KB; anything past this is refused before it is read or its signature checked. */
export const WEBHOOK_MAX_BYTES = 64 * 1024;

export interface WebhookSettings {
  /** Mailgun's HTTP webhook signing key. */
  signingKey: string;
  /** How far a signature's timestamp may be from now. */
  maxAgeMs: number;
  recorder: EventRecorder;
  logger: ApiLogger;
  /** Requests a minute one client address may make (Mailgun posts from a handful of addresses). */
  ratePerMinute: number;
  metrics: ApiMetrics;
}

const SignatureSchema = z.object({
  timestamp: z.string().regex(/^\d{1,12}$/),
  token: z.string().min(1).max(200),
  signature: z.string().min(1).max(200),
});

const WebhookBodySchema = z
  .object({
    signature: SignatureSchema,
    'event-data': z.record(z.string(), z.unknown()).openapi({ description: 'Mailgun event: event, id, timestamp, recipient, user-variables, …' }),
  })
  .openapi('MailgunWebhook');

const WebhookResultSchema = z.object({ status: z.enum(['recorded', 'duplicate']) }).openapi('WebhookResult');

/** The event as we record it; a 406 naming each problem when it can never be used. */
function eventRecordOf(data: unknown): MailgunEventRecord {
  try {
    return toEventRecord(data);
  } catch (error) {
    if (error instanceof UnusableEventError) throw new ApiError(406, 'unusable_event', 'The event cannot be used', error.problems);
    throw error;
  }
}

export function mailgunWebhookRoutes({ signingKey, maxAgeMs, recorder, logger, ratePerMinute, metrics }: WebhookSettings) {
  const app = new OpenAPIHono();
  // Before anything is read: a flood from one address costs a counter, not a parse or a signature check.
  app.use(MAILGUN_WEBHOOK_PATH, rateLimit('webhooks', { points: ratePerMinute, windowSeconds: 60 }, { refuse: refuseAsJson('from your address') }));
  const limit = bodyLimit({
    maxSize: WEBHOOK_MAX_BYTES,
    onError: () => {
      throw new ApiError(413, 'payload_too_large', `A webhook body is at most ${WEBHOOK_MAX_BYTES / 1024} KB`);
    },
  });
  app.post(MAILGUN_WEBHOOK_PATH, limit, async (c) => {
    let event = 'unknown';
    const counted = (result: WebhookResult) => metrics.webhookEvents.inc({ event, result });
    try {
      const outcome = await receive(() => c.req.json(), (kind) => (event = kind));
      counted(outcome);
      if (outcome === 'replay') throw new ApiError(401, 'replayed_token', 'This signature token was used before');
      return c.json({ status: outcome }, 200);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'replayed_token')) counted(error instanceof ApiError && error.status === 503 ? 'unavailable' : 'refused');
      throw error;
    }
  });

  /** Checks, reads and records one webhook request; `onEvent` hears its event's kind once known. */
  async function receive(read: () => Promise<unknown>, onEvent: (kind: string) => void) {
    const body: unknown = await read().catch(() => undefined);
    if (typeof body !== 'object' || body === null) throw new ApiError(406, 'unusable_event', 'The body must be a JSON object');
    const signature = SignatureSchema.safeParse(Reflect.get(body, 'signature'));
    if (!signature.success) throw new ApiError(401, 'invalid_signature', 'signature: timestamp, token and signature are required');
    const check = checkSignature(signature.data, signingKey, Date.now(), maxAgeMs);
    if (check === 'invalid') throw new ApiError(401, 'invalid_signature', 'The signature does not match');
    if (check === 'stale') throw new ApiError(401, 'stale_timestamp', `The signature's timestamp is more than ${maxAgeMs / 1000} s from now`);

    const record = eventRecordOf(Reflect.get(body, 'event-data'));
    onEvent(record.event);
    return recorder.record({ record, token: signature.data.token }).catch((error: unknown) => {
      logger.error({ err: error, eventId: record.eventId }, 'webhook event could not be recorded');
      throw new ApiError(503, 'unavailable', 'The event could not be recorded; try again');
    });
  }

  app.openAPIRegistry.registerPath({
    method: 'post',
    path: MAILGUN_WEBHOOK_PATH,
    tags: ['Webhooks'],
    summary: 'Mailgun event webhook (signed by Mailgun; no x-api-key)',
    security: [],
    request: { body: { required: true, content: { 'application/json': { schema: WebhookBodySchema } } } },
    responses: {
      200: json(WebhookResultSchema, 'Recorded, or recorded before'),
      401: { description: 'Bad signature, stale timestamp or replayed token' },
      406: { description: 'A payload that can never be used: Mailgun stops retrying' },
      429: { description: 'Too many requests from one address this minute (Retry-After): Mailgun retries' },
      413: { description: `A body over ${WEBHOOK_MAX_BYTES / 1024} KB, refused before it is read or its signature checked` },
      503: { description: 'Could not record it now: Mailgun retries' },
    },
  });
  return app;
}
