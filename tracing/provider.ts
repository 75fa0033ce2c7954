import { SpanKind } from '@opentelemetry/api';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NoopSpanProcessor, ParentBasedSampler, SamplingDecision, type Sampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { SpanName } from '@temporalio/interceptors-opentelemetry';

/** Where this process's spans go, and who they say made them. */
export interface Tracing {
  readonly resource: Resource;
  /** Every span of this process passes here: the SDK's own, and the workflows' (through the exporter sink). */
  readonly spanProcessor: SpanProcessor;
  /** Sends what is still buffered, then stops exporting. */
  shutdown(): Promise<void>;
}

/** Tracing that records nothing: what a process has when no OTLP endpoint is configured. */
export const TRACING_OFF: Tracing = { resource: Resource.empty(), spanProcessor: new NoopSpanProcessor(), shutdown: () => Promise.resolve() };

export interface TracingSettings {
  /** An OTLP/HTTP receiver's base URL (spans go to `<endpoint>/v1/traces`); unset, tracing is off. */
  endpoint: string | undefined;
  /** `service.name` of every span this process exports. */
  serviceName: string;
  /** How long spans wait to be sent in one request. */
  exportDelayMs?: number;
}

/** The Temporal client calls that begin work of their own (a start, signal or update from a caller). */
const CLIENT_CALLS = [SpanName.WORKFLOW_START, SpanName.WORKFLOW_SIGNAL, SpanName.WORKFLOW_SIGNAL_WITH_START, SpanName.WORKFLOW_START_UPDATE, SpanName.WORKFLOW_UPDATE_WITH_START].map(
  (name) => `${name}:`,
);

/**
 * A trace begins only where work does: at an API request (a server span) or a Temporal client's
 * start, signal or update. Spans with no parent that a library makes on its own — the Firestore
 * projector's commit every second, a pool's reconnect — are not recorded; everything under a
 * recorded span is.
 */
export const workStartsHere: Sampler = new ParentBasedSampler({
  root: {
    shouldSample: (_context, _traceId, name, kind) => ({
      decision: kind === SpanKind.SERVER || CLIENT_CALLS.some((prefix) => name.startsWith(prefix)) ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD,
    }),
    toString: () => 'WorkStartsHere',
  },
});

/**
 * Once per process, before any Temporal client or worker is made: registers the global tracer
 * provider (W3C trace context propagation, async-local context) that exports spans over OTLP/HTTP.
 * Export failures are the exporter's to log; they never fail a request or an activity.
 */
export function installTracing({ endpoint, serviceName, exportDelayMs = 1000 }: TracingSettings): Tracing {
  if (endpoint === undefined) return TRACING_OFF;
  const resource = Resource.default().merge(new Resource({ 'service.name': serviceName }));
  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` });
  const spanProcessor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: exportDelayMs });
  const provider = new NodeTracerProvider({ resource, sampler: workStartsHere, spanProcessors: [spanProcessor] });
  provider.register();
  return { resource, spanProcessor, shutdown: () => provider.shutdown() };
}
