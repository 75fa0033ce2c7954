import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { except } from 'hono/combine';
import { pino } from 'pino';
import type { AnalyticsClient } from '../client/analytics.js';
import type { CampaignClient } from '../client/campaigns.js';
import { apiKeyAuth } from './auth.js';
import { rateLimit, refuseAsJson } from './rate-limit.js';
import type { ApiKey } from './keys.js';
import { errorHandler, notFound, rejectInvalid, type ApiLogger } from './errors.js';
import { requestId } from 'hono/request-id';
import { Registry } from 'prom-client';
import { createApiMetrics, type ApiMetrics } from '../metrics/api.js';
import { countRequests } from './request-metrics.js';
import { traceRequests } from './request-tracing.js';
import { analyticsRoutes } from './routes/analytics.js';
import { auditRoutes } from './routes/audit.js';
import { campaignActionRoutes } from './routes/campaign-actions.js';
import { campaignRoutes } from './routes/campaigns.js';
import { healthRoutes, type ReadinessCheck } from './routes/health.js';
import { sendMailRoutes } from './routes/send-mail.js';
import { UNSUBSCRIBE_PATH, unsubscribeRoutes, type UnsubscribeRoutesOptions } from './routes/unsubscribe.js';
import { userRoutes } from './routes/users.js';
import { MAILGUN_WEBHOOK_PATH, mailgunWebhookRoutes, type WebhookSettings } from './routes/webhooks.js';
import { API_KEY_SCHEME } from './schemas.js';

export interface ApiAppOptions {
  campaigns: CampaignClient;
  analytics: AnalyticsClient;
  /** Mailgun's webhooks; without them POST /webhooks/mailgun is not served. */
  webhooks?: Omit<WebhookSettings, 'logger' | 'metrics'>;
  /** Unsubscribe links; without them /u/:token is not served. */
  unsubscribe?: UnsubscribeRoutesOptions;
  /** Accepted in the x-api-key header, each with its scopes. */
  apiKeys: readonly ApiKey[];
  /** Requests a minute each key may make (default 1200). */
  keyRatePerMinute?: number;
  /** Where unexpected errors (answered with a bare 500) are logged. */
  logger?: ApiLogger;
  /** Request, webhook and unsubscribe figures, on the process's registry (default: a registry of their own). */
  metrics?: ApiMetrics;
  /** What GET /ready checks, by name. */
  readiness?: Readonly<Record<string, ReadinessCheck>>;
}

/** Answered without a key (probes; Mailgun signs its webhooks instead; an unsubscribe link's token is signed by us). */
const PUBLIC_PATHS = ['/health', '/ready', '/openapi.json', MAILGUN_WEBHOOK_PATH, UNSUBSCRIBE_PATH];

/** A send-mail to 100,000 addresses is about 4 MB. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** The trigger API: HTTP over CampaignClient, described by the OpenAPI document at /openapi.json. */
export function createApiApp({
  campaigns,
  analytics,
  webhooks,
  unsubscribe,
  apiKeys,
  keyRatePerMinute = 1200,
  logger = pino({ name: 'api' }),
  metrics = createApiMetrics(new Registry()),
  readiness = {},
}: ApiAppOptions) {
  const app = new OpenAPIHono({ defaultHook: rejectInvalid });
  app.onError(errorHandler(logger));
  app.notFound(notFound);
  app.use(traceRequests(), countRequests(metrics));
  const perKey = rateLimit('api-key', { points: keyRatePerMinute, windowSeconds: 60 }, { keyOf: (c) => c.var.caller, refuse: refuseAsJson('with this key') });
  app.use(requestId(), except(PUBLIC_PATHS, apiKeyAuth(apiKeys), perKey), bodyLimit({ maxSize: MAX_BODY_BYTES }));

  app
    .route('/', healthRoutes({ checks: readiness, logger }))
    .route('/', campaignRoutes(campaigns))
    .route('/', campaignActionRoutes(campaigns))
    .route('/', sendMailRoutes(campaigns))
    .route('/', userRoutes(campaigns))
    .route('/', analyticsRoutes(analytics))
    .route('/', auditRoutes(campaigns));
  if (webhooks) app.route('/', mailgunWebhookRoutes({ ...webhooks, logger, metrics }));
  if (unsubscribe) app.route('/', unsubscribeRoutes(unsubscribe, { metrics }));

  app.openAPIRegistry.registerComponent('securitySchemes', API_KEY_SCHEME, { type: 'apiKey', in: 'header', name: 'x-api-key' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Distro Nation campaign API',
      version: '1.0.0',
      description:
        'Create, steer and inspect email campaigns. Every route but /health, /ready, /openapi.json, the Mailgun webhooks and unsubscribe links needs an x-api-key header.',
    },
    security: [{ [API_KEY_SCHEME]: [] }],
  });
  return app;
}
