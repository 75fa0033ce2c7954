import { Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from './config.js';
import { connectTemporal, openActivityDeps } from './connections.js';
import { createLogger, temporalLogger } from './logger.js';
import { createWorker } from './worker.js';

/**
 * The worker process. SIGTERM/SIGINT start a graceful shutdown: no new tasks are
 * polled, in-flight activities get WORKER_SHUTDOWN_GRACE_MS to finish (after
 * which Temporal retries them elsewhere, and the send ledger keeps that safe),
 * then connections close and the process exits 0.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, 'worker');
  Runtime.install({ logger: temporalLogger(logger), shutdownSignals: ['SIGINT', 'SIGTERM'] });

  const resources = openActivityDeps(config);
  const connection = await connectTemporal(config);
  try {
    const worker = await createWorker(connection, config, resources.deps);
    logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE }, 'worker started');
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await resources.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
