import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTraceCollector, type TraceCollector } from '../../local-stack/trace-collector.js';

/** The local OTLP/HTTP receiver: what it reads, what it refuses, and how it answers for traces. */

let collector: TraceCollector;
before(async () => {
  collector = await startTraceCollector();
});
after(() => collector.stop());

const TRACE = '5b8efff798038103d269b633813fc60c';
const value = (stringValue: string) => ({ stringValue });

function exportOf(spans: Array<{ spanId: string; parentSpanId?: string; name: string; startMs: number; endMs: number }>, service = 'dn-campaigns-api') {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: value(service) }] },
        scopeSpans: [
          {
            scope: { name: 'test' },
            spans: spans.map((s) => ({
              traceId: TRACE,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: 2,
              startTimeUnixNano: String(BigInt(s.startMs) * 1_000_000n),
              endTimeUnixNano: s.endMs * 1_000_000,
              attributes: [
                { key: 'http.route', value: value('/campaigns') },
                { key: 'http.response.status_code', value: { intValue: '201' } },
              ],
              status: { code: 1 },
            })),
          },
        ],
      },
    ],
  };
}

async function post(body: string, contentType = 'application/json') {
  const response = await fetch(`${collector.url}/v1/traces`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('an OTLP JSON export is kept per trace, spans in start order, with their service and attributes', async () => {
  assert.equal((await post(JSON.stringify(exportOf([{ spanId: 'aaaaaaaaaaaaaaaa', name: 'POST /campaigns', startMs: 1000, endMs: 1060 }])))).status, 200);
  const worker = exportOf([{ spanId: 'bbbbbbbbbbbbbbbb', parentSpanId: 'aaaaaaaaaaaaaaaa', name: 'RunWorkflow:campaignLifecycle', startMs: 1020, endMs: 1500 }], 'dn-campaigns-worker');
  assert.equal((await post(JSON.stringify(worker))).status, 200);

  const spans = collector.trace(TRACE.toUpperCase());
  assert.deepEqual(
    spans.map((s) => [s.service, s.name, s.parentSpanId]),
    [
      ['dn-campaigns-api', 'POST /campaigns', undefined],
      ['dn-campaigns-worker', 'RunWorkflow:campaignLifecycle', 'aaaaaaaaaaaaaaaa'],
    ],
  );
  assert.deepEqual(spans[0]?.attributes, { 'http.route': '/campaigns', 'http.response.status_code': 201 });
  const listed = (await (await fetch(`${collector.url}/traces`)).json()) as unknown[];
  assert.deepEqual(listed, [{ traceId: TRACE, root: 'dn-campaigns-api: POST /campaigns', services: ['dn-campaigns-api', 'dn-campaigns-worker'], spans: 2, durationMs: 500 }]);
  assert.equal((await fetch(`${collector.url}/traces/${TRACE}`)).status, 200);
  assert.equal((await fetch(`${collector.url}/traces/${'0'.repeat(32)}`)).status, 404);
});

test('protobuf, non-JSON and malformed exports are refused with what is wrong, and nothing is kept', async () => {
  const before = collector.spans().length;
  const protobuf = await post('\x0a\x00', 'application/x-protobuf');
  assert.equal(protobuf.status, 415);
  assert.match(String(protobuf.body['error']), /JSON/);
  assert.equal((await post('{not json')).status, 400);
  const bad = exportOf([{ spanId: 'short', name: 'x', startMs: 1, endMs: 2 }]);
  const malformed = await post(JSON.stringify(bad));
  assert.equal(malformed.status, 400);
  assert.match(String(malformed.body['error']), /resourceSpans\.0\.scopeSpans\.0\.spans\.0\.spanId/);
  assert.equal(collector.spans().length, before);
});
