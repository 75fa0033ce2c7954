import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { openApiServer } from '../../api/services.js';
import type { ApiServer } from '../../api/server.js';
import { startTraceCollector, type CollectedSpan, type TraceCollector } from '../../local-stack/trace-collector.js';
import { installTracing, type Tracing } from '../../tracing/provider.js';
import { loadConfig } from '../../worker/config.js';
import { harnessForFile, waitFor, type ChildWorker } from '../helpers/harness.js';
import { textsOf } from '../helpers/replay.js';

/**
 * OpenTelemetry tracing from an API request to the activities it leads to: the API process and a
 * worker process export spans over OTLP/HTTP to the local receiver, and a caller's W3C traceparent
 * is continued through Temporal's headers into the workflows and activities.
 */

const KEY = 'trace-key-0123456789abcdef01234';
const RECIPIENTS = 40;
const file = harnessForFile({ users: RECIPIENTS, seed: { mixed: false }, worker: false });

let collector: TraceCollector;
let tracing: Tracing;
let api: ApiServer;
let worker: ChildWorker;

/** A caller's own span: its trace id, and the span id the API's span must name as its parent. */
function callerContext() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

async function call(method: string, path: string, traceparent: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { 'x-api-key': KEY, traceparent, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The names of a span's ancestors, itself first, up to the trace's root. */
function lineage(span: CollectedSpan, spans: CollectedSpan[]): CollectedSpan[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const line = [span];
  for (let parent = span.parentSpanId && byId.get(span.parentSpanId); parent; parent = parent.parentSpanId && byId.get(parent.parentSpanId)) line.push(parent);
  return line;
}

describe('tracing', () => {
  before(async () => {
    collector = await startTraceCollector();
    tracing = installTracing({ endpoint: collector.url, serviceName: 'dn-campaigns-api', exportDelayMs: 100 });
    const config = loadConfig({ ...file.h.env, API_KEYS: `ops:admin:${KEY}`, API_PORT: '0' });
    api = await openApiServer(config, pino({ level: 'silent' }));
    worker = await file.h.spawnWorker({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
  });
  after(async () => {
    await worker?.stop();
    await api?.stop();
    await tracing?.shutdown();
    await collector?.stop();
  });

  test('a campaign created and approved over HTTP is one trace from the request to every batch it sent', async () => {
    const created = callerContext();
    const make = await call('POST', '/campaigns', created.traceparent, {
      name: 'Traced newsletter',
      type: 'newsletter',
      content: { subject: 'News', text: 'Hello %recipient.name%' },
    });
    assert.equal(make.status, 201, JSON.stringify(make.body));
    const campaignId = String(make.body['campaignId']);
    const approved = callerContext();
    const approve = await call('POST', `/campaigns/${campaignId}/approve`, approved.traceparent, { send: { batchSize: 10 } });
    assert.equal(approve.status, 200, JSON.stringify(approve.body));
    // Archived a few seconds after sending (TRACKING_WINDOW_MS): the lifecycle's run, and its span, end.
    await waitFor(async () => (await file.h.campaigns.get(campaignId)).campaign.status === 'archived', { what: 'the campaign to be archived' });
    assert.equal(file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId).length, RECIPIENTS);

    // Each batch's sendBatch ran on the worker, under the workflow that the create request started. A
    // workflow's span is exported when its run ends: the lifecycle's once the campaign is archived.
    const { batches, trace } = await waitFor(
      () => {
        const trace = collector.trace(created.traceId);
        const batches = trace.filter((s) => s.name === 'RunActivity:sendBatch');
        const complete = batches.length === RECIPIENTS / 10 && batches.every((b) => lineage(b, trace).at(-1)?.parentSpanId === created.spanId);
        return complete ? { batches, trace } : undefined;
      },
      { what: 'every batch to be traced back to the request' },
    );
    for (const batch of batches) {
      assert.equal(batch.service, 'dn-campaigns-worker');
      const line = lineage(batch, trace);
      const names = line.map((s) => s.name);
      const root = line.at(-1);
      assert.equal(root?.name, 'POST /campaigns', `the trace's root is the API request: ${names.join(' < ')}`);
      assert.equal(root?.service, 'dn-campaigns-api');
      assert.equal(root?.attributes['http.response.status_code'], 201);
      for (const step of ['StartActivity:sendBatch', 'RunWorkflow:campaignSend', 'RunWorkflow:campaignLifecycle', 'StartWorkflow:campaignLifecycle']) {
        assert.ok(names.includes(step), `${step} is between the request and the batch: ${names.join(' < ')}`);
      }
    }
    assert.ok(
      batches.every((b) => b.attributes['temporalWorkflowId'] === batches[0]?.attributes['temporalWorkflowId']),
      'every batch ran in the one send workflow',
    );

    // The approval is its own trace, and reaches into the workflow that handled it.
    const expected = ['dn-campaigns-api: POST /campaigns/:id/approve', 'dn-campaigns-api: StartWorkflowUpdate:approve', 'dn-campaigns-worker: HandleUpdate:approve'];
    const approval = await waitFor(() => {
      const spans = collector.trace(approved.traceId);
      return expected.every((name) => spans.some((s) => `${s.service}: ${s.name}` === name)) ? spans : undefined;
    }, { what: `the approval's spans: ${expected.join(', ')}` });
    const request = approval.find((s) => s.name === 'POST /campaigns/:id/approve');
    assert.equal(request?.parentSpanId, approved.spanId, "the API's span continues the caller's");

    // A trace begins where work does: an API request or a Temporal client call, never a library's own span.
    for (const { root } of collector.traces()) assert.match(root, /^dn-campaigns-api: ([A-Z]+ \/|(StartWorkflow|SignalWorkflow|StartWorkflowUpdate):)/);

    // Spans name routes and workflows, never a person: no recipient's address is in any of them.
    const addresses = new Set(file.profiles.map((p) => p.email.toLowerCase()));
    const leaked = textsOf(collector.spans()).filter((text) => [...addresses].some((a) => text.toLowerCase().includes(a)));
    assert.deepEqual(leaked, [], 'no address in a span');
  });

  test('a worker whose receiver is down still sends: only its spans are lost', async () => {
    const deadEndpoint = `http://127.0.0.1:1`;
    const offline = await file.h.spawnWorker({ OTEL_EXPORTER_OTLP_ENDPOINT: deadEndpoint });
    try {
      await worker.stop();
      const caller = callerContext();
      const campaignId = await file.h.campaigns.create({ name: 'Traced to nowhere', type: 'newsletter', content: { subject: 'News', text: 'Hi' }, audience: { limit: 5 } });
      const approve = await call('POST', `/campaigns/${campaignId}/approve`, caller.traceparent, {});
      assert.equal(approve.status, 200);
      await waitFor(() => file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId).length === 5, { what: 'the campaign to go out' });
    } finally {
      await offline.stop();
    }
  });
});
