import { createRequire } from 'node:module';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { ClientInterceptors } from '@temporalio/client';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { OpenTelemetryWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import type { Tracing } from './provider.js';

/**
 * Trace context across Temporal: a client's start, signal or update carries the caller's span in
 * its headers, each workflow run and activity schedule makes a span of its own, and an activity's
 * span continues the workflow's. With tracing off the same interceptors run and record nothing.
 */

/**
 * The workflow half, bundled into the workflow code of every worker and replayer whether tracing
 * is on or not, so a history never depends on a setting. It adds headers and spans, never a
 * command, and the SDK flags it checks keep older histories replaying as they ran.
 */
export const WORKFLOW_TRACING_MODULE = createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

export function tracingClientInterceptors(): ClientInterceptors {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}

export const tracingActivityInterceptors: ActivityInterceptorsFactory = (ctx) => ({
  inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
  outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
});

/** The sink workflow spans leave the sandbox through; they join the process's own spans. */
export function tracingSinks(tracing: Tracing): InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }> {
  return { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) };
}
