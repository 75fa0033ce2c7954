import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { Context } from 'hono';
import type { Pool } from 'pg';
import { STREAMS, streamsOptedOut, type Stream } from '../../common/streams.js';
import { verifyUnsubscribeToken, type UnsubscribeSubject } from '../../consent/unsubscribe-token.js';
import { setConsent, subscriptionsOf } from '../../db/subscriptions.js';
import { InvalidLinkPage, PreferencesPage } from '../pages/preferences.js';
import type { ApiMetrics } from '../../metrics/api.js';
import { perClientRateLimit } from '../rate-limit.js';

/**
 * The routes an unsubscribe link reaches, without an API key: the token is the authority.
 * `POST /u/:token` with `List-Unsubscribe=One-Click` is what a mail client's unsubscribe button
 * sends (RFC 8058): it unsubscribes from the message's stream at once. `GET /u/:token` is the
 * preferences page (a GET never changes anything: link scanners fetch links), whose forms post
 * back to the same path.
 */

export const UNSUBSCRIBE_PATH = '/u/:token';

export interface UnsubscribeRoutesOptions {
  pool: Pool;
  /** The HMAC key of the link tokens. */
  secret: string;
  /** Requests per minute from one client address (pages and posts together). */
  ratePerMinute: number;
}

/** What the routes need from the app around them. */
export interface UnsubscribeRouteDeps {
  metrics: ApiMetrics;
}

/** A one-click request or a preferences form is a few dozen bytes. */
const MAX_BODY_BYTES = 4 * 1024;

const isStream = (value: unknown): value is Stream => typeof value === 'string' && (STREAMS as readonly string[]).includes(value);

export function unsubscribeRoutes({ pool, secret, ratePerMinute }: UnsubscribeRoutesOptions, { metrics }: UnsubscribeRouteDeps) {
  const app = new OpenAPIHono();
  app.use(UNSUBSCRIBE_PATH, perClientRateLimit('unsubscribe', { points: ratePerMinute, windowSeconds: 60 }));

  const subjectOf = (c: Context): UnsubscribeSubject | undefined => verifyUnsubscribeToken(c.req.param('token') ?? '', secret);
  const invalid = (c: Context) => c.html(<InvalidLinkPage />, 400);

  async function page(c: Context, subject: UnsubscribeSubject, confirmation?: string) {
    const rows = new Map((await subscriptionsOf(pool, subject.userId)).map((s) => [s.stream, s.status === 'subscribed']));
    const streams = STREAMS.map((stream) => ({ stream, subscribed: rows.get(stream) ?? false }));
    c.header('Cache-Control', 'no-store');
    c.header('Referrer-Policy', 'no-referrer');
    return c.html(
      <PreferencesPage action={new URL(c.req.url).pathname} from={subject.stream} streams={streams} {...(confirmation ? { confirmation } : {})} />,
      200,
    );
  }

  app.get(UNSUBSCRIBE_PATH, async (c) => {
    const subject = subjectOf(c);
    return subject ? page(c, subject) : invalid(c);
  });

  app.post(UNSUBSCRIBE_PATH, bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.text('Request too large (at most 4 KB)', 413) }), async (c) => {
    const subject = subjectOf(c);
    if (!subject) return invalid(c);
    const form: Record<string, unknown> = await c.req.parseBody().catch(() => ({}));
    const base = { userId: subject.userId, campaignId: subject.campaignId };

    if (form['List-Unsubscribe'] === 'One-Click') {
      const streams = streamsOptedOut('unsubscribed', subject.stream);
      const changed = await setConsent(pool, { ...base, streams, status: 'unsubscribed', reason: 'unsubscribed', source: 'one-click' });
      if (changed === undefined) return invalid(c);
      metrics.unsubscribes.inc({ source: 'one-click' });
      return c.text('Unsubscribed.', 200);
    }

    const action = form['action'];
    const stream = form['stream'];
    let confirmation: string;
    if (action === 'unsubscribe-all') {
      const streams = streamsOptedOut('unsubscribed-all', subject.stream);
      await setConsent(pool, { ...base, streams, status: 'unsubscribed', reason: 'unsubscribed-all', source: 'preferences' });
      metrics.unsubscribes.inc({ source: 'preferences' });
      confirmation = 'Done: you will receive no more emails from Distro Nation. You can subscribe again below at any time.';
    } else if ((action === 'unsubscribe' || action === 'subscribe') && isStream(stream)) {
      const unsubscribing = action === 'unsubscribe';
      await setConsent(pool, {
        ...base,
        streams: unsubscribing ? streamsOptedOut('unsubscribed', stream) : [stream],
        status: unsubscribing ? 'unsubscribed' : 'subscribed',
        reason: unsubscribing ? 'unsubscribed' : 'resubscribed',
        source: 'preferences',
      });
      if (unsubscribing) metrics.unsubscribes.inc({ source: 'preferences' });
      confirmation = unsubscribing ? 'Done: you are unsubscribed. Your other choices are below.' : 'Done: you are subscribed again.';
    } else {
      return c.text('Choose an action: unsubscribe, subscribe (with a stream) or unsubscribe-all', 400);
    }
    return page(c, subject, confirmation);
  });

  return app;
}
