import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { workStartsHere } from '../../tracing/provider.js';

const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const decide = (name: string, kind: SpanKind, context = ROOT_CONTEXT) => workStartsHere.shouldSample(context, TRACE_ID, name, kind, {}, []).decision;

test('a trace begins at an API request or a Temporal client call, never at a library’s own span', () => {
  assert.equal(decide('POST', SpanKind.SERVER), SamplingDecision.RECORD_AND_SAMPLED);
  for (const call of ['StartWorkflow:campaignLifecycle', 'SignalWorkflow:sendStatus', 'StartWorkflowUpdate:approve', 'SignalWithStartWorkflow:x', 'UpdateWithStartWorkflow:x']) {
    assert.equal(decide(call, SpanKind.INTERNAL), SamplingDecision.RECORD_AND_SAMPLED, call);
  }
  // The Firestore projector's commit every second, with nothing above it.
  assert.equal(decide('Batch.Commit', SpanKind.INTERNAL), SamplingDecision.NOT_RECORD);
  assert.equal(decide('DocumentReference.Set', SpanKind.CLIENT), SamplingDecision.NOT_RECORD);
});

test('under a recorded span everything is recorded; under a caller that does not sample, nothing', () => {
  const parent = (traceFlags: TraceFlags) => trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: 'aaaaaaaaaaaaaaaa', traceFlags, isRemote: true });
  assert.equal(decide('Batch.Commit', SpanKind.INTERNAL, parent(TraceFlags.SAMPLED)), SamplingDecision.RECORD_AND_SAMPLED);
  assert.equal(decide('POST', SpanKind.SERVER, parent(TraceFlags.NONE)), SamplingDecision.NOT_RECORD);
});
