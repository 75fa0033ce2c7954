import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { closeServer, listen, readJson, respondJson } from './http.js';

/**
 * A local OTLP/HTTP trace receiver: what `npm start` points the pipeline's tracing at when no
 * OTEL_EXPORTER_OTLP_ENDPOINT is configured, and what tests read spans back from.
 *
 * - `POST /v1/traces`: an OTLP `ExportTraceServiceRequest` in its JSON encoding (what
 *   `@opentelemetry/exporter-trace-otlp-http` sends); protobuf is refused with 415.
 * - `GET /traces`: the most recent traces, newest first: id, root span, services, span count, duration.
 * - `GET /traces/<traceId>`: that trace's spans, in start order.
 * It keeps the latest `keepSpans` spans (default 20,000) in memory; nothing is written anywhere.
 */

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  /** Absent for a trace's root. */
  parentSpanId?: string;
  name: string;
  /** The `service.name` of the process that made it. */
  service: string;
  startMs: number;
  endMs: number;
  attributes: Record<string, unknown>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: number;
}

export interface TraceSummary {
  traceId: string;
  root: string;
  services: string[];
  spans: number;
  durationMs: number;
}

export interface TraceCollector {
  /** Base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans(): CollectedSpan[];
  trace(traceId: string): CollectedSpan[];
  traces(): TraceSummary[];
  stop(): Promise<void>;
}

type AnyValue = { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number; arrayValue?: { values?: AnyValue[] } };
const anyValue: z.ZodType<AnyValue> = z.lazy(() =>
  z.object({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: z.union([z.string(), z.number()]).optional(),
    doubleValue: z.number().optional(),
    arrayValue: z.object({ values: z.array(anyValue).optional() }).optional(),
  }),
);
const keyValues = z.array(z.object({ key: z.string(), value: anyValue.optional() })).default([]);
const nanos = z.union([z.string(), z.number()]).transform((v) => Number(BigInt(v) / 1_000_000n));
const exportRequest = z.object({
  resourceSpans: z
    .array(
      z.object({
        resource: z.object({ attributes: keyValues }).optional(),
        scopeSpans: z
          .array(
            z.object({
              spans: z
                .array(
                  z.object({
                    traceId: z.string().regex(/^[0-9a-f]{32}$/i),
                    spanId: z.string().regex(/^[0-9a-f]{16}$/i),
                    parentSpanId: z.string().optional(),
                    name: z.string(),
                    startTimeUnixNano: nanos,
                    endTimeUnixNano: nanos,
                    attributes: keyValues,
                    status: z.object({ code: z.number().optional() }).optional(),
                  }),
                )
                .default([]),
            }),
          )
          .default([]),
      }),
    )
    .default([]),
});

function valueOf(value: AnyValue | undefined): unknown {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return (value.arrayValue?.values ?? []).map(valueOf);
}

function attributesOf(list: z.infer<typeof keyValues>): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => [key, valueOf(value)]));
}

/** The spans an OTLP JSON export request holds; throws a ZodError when it is not one. */
export function spansOfExport(body: unknown): CollectedSpan[] {
  const spans: CollectedSpan[] = [];
  for (const { resource, scopeSpans } of exportRequest.parse(body).resourceSpans) {
    const name = attributesOf(resource?.attributes ?? [])['service.name'];
    const service = typeof name === 'string' ? name : 'unknown';
    for (const scope of scopeSpans)
      for (const span of scope.spans)
        spans.push({
          traceId: span.traceId.toLowerCase(),
          spanId: span.spanId.toLowerCase(),
          ...(span.parentSpanId ? { parentSpanId: span.parentSpanId.toLowerCase() } : {}),
          name: span.name,
          service,
          startMs: span.startTimeUnixNano,
          endMs: span.endTimeUnixNano,
          attributes: attributesOf(span.attributes),
          status: span.status?.code ?? 0,
        });
  }
  return spans;
}

function summarize(traceId: string, spans: CollectedSpan[]): TraceSummary {
  const ids = new Set(spans.map((s) => s.spanId));
  const root = spans.find((s) => s.parentSpanId === undefined || !ids.has(s.parentSpanId)) ?? spans[0];
  const start = Math.min(...spans.map((s) => s.startMs));
  return {
    traceId,
    root: root ? `${root.service}: ${root.name}` : '',
    services: [...new Set(spans.map((s) => s.service))].sort(),
    spans: spans.length,
    durationMs: Math.max(...spans.map((s) => s.endMs)) - start,
  };
}

export async function startTraceCollector({ host = '127.0.0.1', port = 0, keepSpans = 20_000 }: { host?: string; port?: number; keepSpans?: number } = {}): Promise<TraceCollector> {
  let kept: CollectedSpan[] = [];
  const trace = (traceId: string) => kept.filter((s) => s.traceId === traceId.toLowerCase()).sort((a, b) => a.startMs - b.startMs);
  const traces = () => {
    const byTrace = new Map<string, CollectedSpan[]>();
    for (const span of kept) {
      const spans = byTrace.get(span.traceId) ?? [];
      spans.push(span);
      byTrace.set(span.traceId, spans);
    }
    return [...byTrace].map(([id, spans]) => summarize(id, spans)).reverse();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://collector').pathname;
    if (req.method === 'POST' && path === '/v1/traces') {
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
        req.resume();
        respondJson(res, 415, { error: 'send OTLP/HTTP JSON (content-type: application/json); protobuf is not read here' });
        return;
      }
      const body = await readJson(req, 16 * 1024 * 1024, {
        tooLarge: () => new Error('export request larger than 16 MB'),
        notJson: () => new Error('export request is not JSON'),
        aborted: () => new Error('export request aborted'),
      });
      let spans: CollectedSpan[];
      try {
        spans = spansOfExport(body);
      } catch (error) {
        if (!(error instanceof z.ZodError)) throw error;
        respondJson(res, 400, { error: `not an OTLP trace export: ${error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
        return;
      }
      kept = [...kept, ...spans].slice(-keepSpans);
      respondJson(res, 200, {});
    } else if (req.method === 'GET' && path === '/traces') {
      respondJson(res, 200, traces());
    } else if (req.method === 'GET' && path.startsWith('/traces/')) {
      const spans = trace(path.slice('/traces/'.length));
      respondJson(res, spans.length === 0 ? 404 : 200, spans.length === 0 ? { error: 'no such trace (yet)' } : spans);
    } else {
      respondJson(res, 404, { error: `${req.method} ${path}: POST /v1/traces, GET /traces or GET /traces/<traceId>` });
    }
  }

  const { server, url } = await listen(host, port, handle, (res, err) => {
    if (!res.headersSent) respondJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
  });
  return { url, spans: () => [...kept], trace, traces, stop: () => closeServer(server) };
}
