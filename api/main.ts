import { pino } from 'pino';
import { ConfigError, loadConfigOrExit } from '../worker/config.js';
import { openApiServer } from './services.js';

/** `npm run api`: the trigger API. SIGINT/SIGTERM stop it after in-flight requests are answered. */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = pino({ name: 'api', level: config.LOG_LEVEL });
  const server = await openApiServer(config, logger);
  logger.info({ url: server.url }, `api listening on ${server.url}`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'api stopping');
  await server.stop();
  logger.info('api stopped');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  },
);
