import { pino } from 'pino';
import { CampaignClient } from '../client/campaigns.js';
import { connectClient } from '../client/temporal.js';
import { createPool } from '../db/pool.js';
import { lifecycleOptions, loadConfigOrExit } from '../worker/config.js';
import { startApiServer } from './server.js';

/** `npm run api`: the trigger API. SIGINT/SIGTERM stop it after in-flight requests are answered. */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const apiKeys = config.API_KEYS;
  if (!apiKeys) {
    console.error('API_KEYS: required: comma-separated keys (16+ characters each) that callers send in the x-api-key header');
    process.exit(1);
  }
  const logger = pino({ name: 'api', level: config.LOG_LEVEL });
  const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, (error) =>
    logger.warn({ err: error }, 'database: idle connection lost'),
  );
  const temporal = await connectClient(config);
  const campaigns = new CampaignClient({
    pool,
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    lifecycle: lifecycleOptions(config),
  });
  const server = await startApiServer({ campaigns, apiKeys, logger, host: config.API_HOST, port: config.API_PORT });
  logger.info({ url: server.url }, `api listening on ${server.url}`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'api stopping');
  await server.stop();
  await Promise.allSettled([temporal.connection.close(), pool.end()]);
  logger.info('api stopped');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
