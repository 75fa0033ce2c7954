import type { Logger } from 'pino';
import { startAnalyticsProjector } from '../analytics/projector.js';
import { AnalyticsClient } from '../client/analytics.js';
import { CampaignClient } from '../client/campaigns.js';
import { connectClient } from '../client/temporal.js';
import { pruneWebhookTokens } from '../db/events.js';
import { createPool } from '../db/pool.js';
import { apiKeys, lifecycleOptions, senderDomains, type Config } from '../worker/config.js';
import { connectFirestore } from '../worker/connections.js';
import { createApiMetrics, registerAuroraGauges } from '../metrics/api.js';
import { createRegistry } from '../metrics/registry.js';
import type { Registry } from 'prom-client';
import { startApiServer, type ApiServer } from './server.js';
import { createEventRecorder } from './webhooks/recorder.js';

/**
 * The API process's parts, from configuration: the HTTP server (triggers, analytics, Mailgun
 * webhooks when a signing key is set), the Firestore projection of campaign counters, and the
 * pruning of used webhook tokens.
 */
export async function openApiServer(config: Config, logger: Logger, registry: Registry = createRegistry()): Promise<ApiServer> {
  const keys = apiKeys(config);
  const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, (error) => logger.warn({ err: error }, 'database: idle connection lost'));
  const temporal = await connectClient(config);
  const firestore = connectFirestore(config);
  const campaigns = new CampaignClient({
    pool,
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    lifecycle: lifecycleOptions(config),
    senderDomains: senderDomains(config),
    previewDomains: config.PREVIEW_ALLOWED_DOMAINS,
  });
  const analytics = new AnalyticsClient({ pool });
  const projector = startAnalyticsProjector(pool, firestore.firestore, { intervalMs: config.ANALYTICS_PROJECTION_INTERVAL_MS, logger });
  const recorder = createEventRecorder(pool);
  const signingKey = config.MAILGUN_WEBHOOK_SIGNING_KEY;
  if (!signingKey) logger.warn('MAILGUN_WEBHOOK_SIGNING_KEY is not set: POST /webhooks/mailgun is not served');
  if (!config.UNSUBSCRIBE_SECRET) logger.warn('UNSUBSCRIBE_SECRET is not set: unsubscribe links (/u/:token) are not served');
  const maxAgeMs = config.MAILGUN_WEBHOOK_MAX_AGE_MS;
  const pruner = setInterval(() => {
    pruneWebhookTokens(pool, new Date(Date.now() - 2 * maxAgeMs)).catch((error: unknown) => logger.warn({ err: error }, 'pruning webhook tokens failed'));
  }, Math.min(maxAgeMs, 60_000));

  registerAuroraGauges(registry, pool, { timeZone: config.FINANCIAL_TIME_ZONE });
  const server = await startApiServer({
    campaigns,
    analytics,
    apiKeys: keys,
    logger,
    metrics: createApiMetrics(registry),
    readiness: {
      postgres: () => pool.query('SELECT 1'),
      temporal: () => temporal.workflowService.getSystemInfo({}),
      firestore: () => firestore.firestore.collection('campaigns').limit(1).get(),
    },
    host: config.API_HOST,
    port: config.API_PORT,
    keyRatePerMinute: config.API_RATE_LIMIT_PER_MINUTE,
    ...(signingKey ? { webhooks: { signingKey, maxAgeMs, recorder, ratePerMinute: config.MAILGUN_WEBHOOK_RATE_LIMIT_PER_MINUTE } } : {}),
    ...(config.UNSUBSCRIBE_SECRET
      ? { unsubscribe: { pool, secret: config.UNSUBSCRIBE_SECRET, ratePerMinute: config.UNSUBSCRIBE_RATE_LIMIT_PER_MINUTE } }
      : {}),
  });
  return {
    url: server.url,
    async stop() {
      clearInterval(pruner);
      await server.stop();
      await recorder.drain();
      await projector.stop();
      await Promise.allSettled([temporal.connection.close(), pool.end(), firestore.close()]);
    },
  };
}
