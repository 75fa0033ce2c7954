import './thread-pool.js';
import { createRegistry } from '../metrics/registry.js';
import { loadConfigOrExit } from './config.js';
import { connectTemporal, openActivityDeps } from './connections.js';
import { createLogger } from './logger.js';
import { installTelemetry } from './telemetry.js';
import { installTracing } from '../tracing/provider.js';
import { createWorker } from './worker.js';

/**
 * The worker process. SIGTERM/SIGINT start a graceful shutdown: no new tasks are
 * polled, in-flight activities get WORKER_SHUTDOWN_GRACE_MS to finish (after
 * which Temporal retries them elsewhere, and the send ledger keeps that safe),
 * then connections close and the process exits 0. With METRICS_ADDRESS it serves GET /metrics there:
 * the pipeline's figures and the Temporal SDK's; with OTEL_EXPORTER_OTLP_ENDPOINT it sends trace spans there.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, 'worker');
  const registry = createRegistry();
  const telemetry = await installTelemetry(logger, { metricsAddress: config.METRICS_ADDRESS, registry });
  if (telemetry.metrics) logger.info({ url: telemetry.metrics.url }, `metrics at ${telemetry.metrics.url}`);
  const tracing = installTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: config.OTEL_SERVICE_NAME ?? 'dn-campaigns-worker' });
  if (config.OTEL_EXPORTER_OTLP_ENDPOINT) logger.info({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT }, 'tracing to OTLP receiver');

  const resources = openActivityDeps(config, registry);
  const connection = await connectTemporal(config);
  try {
    const worker = await createWorker(connection, config, resources.deps, tracing);
    logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE }, 'worker started');
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await resources.close();
    await tracing.shutdown();
    await telemetry.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
