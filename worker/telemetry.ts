import { Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { freePort } from '../local-stack/ports.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';
import { temporalLogger } from './logger.js';

export interface Telemetry {
  /** GET /metrics of this process, when METRICS_ADDRESS is set. */
  metrics: MetricsServer | undefined;
  stop(): Promise<void>;
}

/**
 * Installs the Temporal runtime (logs into pino; with `metricsAddress`, the SDK's Prometheus exporter on a
 * loopback port of its own) and serves the process's registry at `metricsAddress`, the SDK's figures with it.
 * Once per process, before any worker or client connection.
 */
export async function installTelemetry(logger: Logger, { metricsAddress, registry }: { metricsAddress: string | undefined; registry: Registry }): Promise<Telemetry> {
  const sdkAddress = metricsAddress === undefined ? undefined : `127.0.0.1:${await freePort()}`;
  Runtime.install({
    logger: temporalLogger(logger),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(sdkAddress
      ? {
          telemetryOptions: {
            metrics: { prometheus: { bindAddress: sdkAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
          },
        }
      : {}),
  });
  const metrics =
    metricsAddress === undefined ? undefined : await startMetricsServer({ address: metricsAddress, registry, alongside: [`http://${sdkAddress}/metrics`] });
  return { metrics, stop: async () => metrics?.stop() };
}
