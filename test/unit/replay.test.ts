import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import proto from '@temporalio/proto';

const { temporal } = proto;
import { Worker } from '@temporalio/worker';
import { workflowsPath } from '../../worker/worker.js';

/**
 * Replays recorded histories of earlier runs through today's workflow code. A
 * change that would break running campaigns fails here: guard it with
 * `patched()` instead (DESIGN.md §5). Fixtures: test/fixtures/record-histories.ts.
 */
const fixtures = new URL('../fixtures/', import.meta.url);

test('recorded send and lifecycle histories replay deterministically on the current workflow code', async () => {
  const files = readdirSync(fixtures).filter((f) => f.endsWith('.bin'));
  assert.ok(files.filter((f) => f.startsWith('campaign-send-history-')).length >= 2, 'fixtures cover continue-as-new');
  assert.ok(files.some((f) => f.startsWith('campaign-lifecycle-history-')), 'fixtures cover the lifecycle');
  assert.ok(files.some((f) => f.startsWith('campaign-send-child-history-')), 'fixtures cover a send run as a child');
  const histories = files.map((file) => ({
    workflowId: file,
    history: temporal.api.history.v1.History.decode(readFileSync(new URL(file, fixtures))),
  }));
  for await (const result of Worker.runReplayHistories({ workflowsPath }, histories)) {
    assert.equal(result.error, undefined, `${result.workflowId}: ${String(result.error)}`);
  }
});
