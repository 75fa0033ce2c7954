import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeMetrics, draftPhase, isEditable, nextStatusVersion, type DraftFacts } from '../../common/lifecycle.js';

const facts = (over: Partial<DraftFacts> = {}): DraftFacts => ({
  name: 'n',
  type: 'newsletter',
  period: null,
  configVersion: 1,
  hasContent: false,
  hasTestAddresses: false,
  sendAt: null,
  ...over,
});

test('a draft is as far along as what was done at its current version', () => {
  assert.equal(draftPhase(facts(), null, null), 'draft');
  assert.equal(draftPhase(facts({ configVersion: 2 }), null, null), 'configured');
  const counted = { count: 10, sampleUserIds: [], configVersion: 2 };
  assert.equal(draftPhase(facts({ configVersion: 2 }), counted, null), 'audience-ready');
  assert.equal(draftPhase(facts({ configVersion: 3 }), counted, null), 'configured', 'an edit makes the count stale');
  assert.equal(draftPhase(facts({ configVersion: 3, hasContent: true }), counted, null), 'content-ready');
  assert.equal(draftPhase(facts({ configVersion: 3, hasContent: true }), counted, 3), 'preview-sent');
  assert.equal(draftPhase(facts({ configVersion: 4, hasContent: true }), counted, 3), 'content-ready', 'an edit makes the preview stale');
});

test('edits are allowed until sending begins', () => {
  for (const phase of ['draft', 'configured', 'content-ready', 'preview-sent', 'approved', 'scheduled'] as const) assert.ok(isEditable(phase), phase);
  for (const phase of ['sending', 'paused', 'sent', 'tracking', 'archived', 'cancelled', 'failed'] as const) assert.equal(isEditable(phase), false, phase);
});

test('rates are fractions of what could happen, and zero when nothing did', () => {
  const metrics = computeMetrics({ sent: 1000, delivered: 980, opened: 490, clicked: 98, bounced: 20, complained: 1, unsubscribed: 5 });
  assert.deepEqual(
    [metrics.deliveryRate, metrics.openRate, metrics.clickRate, metrics.bounceRate, metrics.unsubscribeRate, metrics.complaintRate],
    [0.98, 0.5, 0.1, 0.02, 0.0051, 0.001],
  );
  assert.equal(computeMetrics({ sent: 0, delivered: 0, opened: 0, clicked: 0, bounced: 0, complained: 0, unsubscribed: 0 }).openRate, 0);
});

test('status versions grow with workflow time and never go back', () => {
  assert.equal(nextStatusVersion(0, 1000), 1_000_000);
  assert.equal(nextStatusVersion(1_000_000, 1000), 1_000_001, 'two writes in one workflow task');
  assert.equal(nextStatusVersion(5_000_000, 1000), 5_000_001, 'a clock behind the last write');
});
