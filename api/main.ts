import { pino } from 'pino';
import { createRegistry } from '../metrics/registry.js';
import { startMetricsServer } from '../metrics/server.js';
import { ConfigError, loadConfigOrExit } from '../worker/config.js';
import { installTracing } from '../tracing/provider.js';
import { openApiServer } from './services.js';

/**
 * `npm run api`: the trigger API. SIGINT/SIGTERM stop it after in-flight requests are answered.
 * With METRICS_ADDRESS it serves GET /metrics there, on a listener of its own; with
 * OTEL_EXPORTER_OTLP_ENDPOINT each request's span (and the workflow calls under it) goes there.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = pino({ name: 'api', level: config.LOG_LEVEL });
  const registry = createRegistry();
  const tracing = installTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: config.OTEL_SERVICE_NAME ?? 'dn-campaigns-api' });
  const server = await openApiServer(config, logger, registry);
  logger.info({ url: server.url }, `api listening on ${server.url}`);
  const metrics = config.METRICS_ADDRESS ? await startMetricsServer({ address: config.METRICS_ADDRESS, registry }) : undefined;
  if (metrics) logger.info({ url: metrics.url }, `metrics at ${metrics.url}`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'api stopping');
  await server.stop();
  await metrics?.stop();
  await tracing.shutdown();
  logger.info('api stopped');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  },
);
