import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { TRACING_OFF, type Tracing } from '../tracing/provider.js';
import { tracingActivityInterceptors, tracingSinks, WORKFLOW_TRACING_MODULE } from '../tracing/temporal.js';
import type { Config } from './config.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** The workflow interceptors every bundle of workflows/ carries (scripts/bundle-workflows.ts). */
export const workflowInterceptorModules = [WORKFLOW_TRACING_MODULE];

/**
 * Where a worker or a replayer gets its workflow code: a prebuilt bundle, or workflows/ bundled now
 * with the same interceptors; either way with the sinks that code calls.
 */
export function workflowCode(bundlePath: string | undefined, tracing: Tracing = TRACING_OFF) {
  return {
    ...(bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath }),
    // A bundle has them inside already.
    interceptors: { workflowModules: bundlePath ? [] : workflowInterceptorModules },
    sinks: tracingSinks(tracing),
  };
}

/** One worker: every campaign workflow and activity on the configured task queue. */
export async function createWorker(
  connection: NativeConnection,
  config: Config,
  deps: ActivityDeps,
  tracing: Tracing = TRACING_OFF,
): Promise<Worker> {
  const code = workflowCode(config.WORKFLOW_BUNDLE_PATH, tracing);
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...code,
    interceptors: { ...code.interceptors, activity: [tracingActivityInterceptors] },
    activities: createActivities(deps),
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_MS,
    // Heartbeats reach the server every 2 s (not 80 % of the heartbeat timeout), so a pause or cancel
    // reaches a batch waiting for its rate slot within seconds, before it sends.
    maxHeartbeatThrottleInterval: '2 seconds',
  });
}
