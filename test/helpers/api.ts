import { startApiServer, type ApiServer } from '../../api/server.js';
import { apiKeyOf } from '../../api/keys.js';
import { createEventRecorder } from '../../api/webhooks/recorder.js';
import { AnalyticsClient } from '../../client/analytics.js';
import type { Harness } from './harness.js';

/** The API over a test harness's Aurora and Temporal, on a free port of 127.0.0.1. */

export const TEST_API_KEY = 'test-api-key-0123456789abcdef';

export interface TestApiOptions {
  /** Accepted in x-api-key (default TEST_API_KEY). */
  apiKey?: string;
  /** Serves Mailgun's webhooks (POST /webhooks/mailgun), signed with this key. */
  signingKey?: string;
  /** Serves unsubscribe links (/u/:token) with the stack's secret, at most this many requests a minute per client. */
  unsubscribePerMinute?: number;
  /** Webhook requests a minute per client address (default: more than any test sends). */
  webhooksPerMinute?: number;
}

export function startTestApi(h: Harness, { apiKey = TEST_API_KEY, signingKey, unsubscribePerMinute, webhooksPerMinute = 1_000_000 }: TestApiOptions = {}): Promise<ApiServer> {
  const secret = h.env['UNSUBSCRIBE_SECRET'];
  if (unsubscribePerMinute !== undefined && !secret) throw new Error('the stack has no UNSUBSCRIBE_SECRET');
  return startApiServer({
    campaigns: h.campaigns,
    analytics: new AnalyticsClient({ pool: h.pool }),
    apiKeys: [apiKeyOf('test', ['admin'], apiKey)],
    host: '127.0.0.1',
    port: 0,
    ...(signingKey === undefined ? {} : { webhooks: { signingKey, maxAgeMs: 300_000, recorder: createEventRecorder(h.pool), ratePerMinute: webhooksPerMinute } }),
    ...(unsubscribePerMinute === undefined || !secret ? {} : { unsubscribe: { pool: h.pool, secret, ratePerMinute: unsubscribePerMinute } }),
  });
}
