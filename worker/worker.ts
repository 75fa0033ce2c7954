import { fileURLToPath } from 'node:url';
import { Worker, type BundleOptions, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { TRACING_OFF, type Tracing } from '../tracing/provider.js';
import { tracingActivityInterceptors, tracingSinks, WORKFLOW_TRACING_MODULE } from '../tracing/temporal.js';
import type { Config } from './config.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** The workflow interceptors every bundle of workflows/ carries (scripts/bundle-workflows.ts). */
export const workflowInterceptorModules = [WORKFLOW_TRACING_MODULE];

/**
 * How workflows/ is bundled: source maps without the sources. Stack traces still name each file and
 * line, and no worker holds a copy of every bundled module's text (it never shows them:
 * showStackTraceSources is off): a 2.0 MB bundle instead of 3.8, and 16 MB less peak worker RSS in
 * bench:financial.
 */
export const bundleWorkflowsWith: Required<Pick<BundleOptions, 'webpackConfigHook'>> = {
  webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
};

/**
 * Where a worker or a replayer gets its workflow code: a prebuilt bundle, or workflows/ bundled now
 * with the same interceptors; either way with the sinks that code calls.
 */
export function workflowCode(bundlePath: string | undefined, tracing: Tracing = TRACING_OFF) {
  return {
    ...(bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath, bundlerOptions: bundleWorkflowsWith }),
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
