import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowCode } from '../../worker/worker.js';

const { temporal } = proto;

/**
 * Replays recorded histories of earlier runs through today's workflow code. A
 * change that would break running campaigns fails here: guard it with
 * `patched()` instead (DESIGN.md §5). Fixtures: test/fixtures/record-histories.ts,
 * named for the workflow version that wrote them.
 */
const fixtures = new URL('../fixtures/', import.meta.url);
/** The send whose live run used a stale workflow clock (README, "What a watcher's read costs"): it never replayed. */
const STALE_CLOCK = 'v1-stale-clock-campaign-send.history.bin';

const load = (file: string) => temporal.api.history.v1.History.decode(readFileSync(new URL(file, fixtures)));

test('recorded send and lifecycle histories of every workflow version replay deterministically on the current code', async () => {
  const files = readdirSync(fixtures).filter((f) => f.endsWith('.bin') && f !== STALE_CLOCK);
  for (const version of ['v1', 'v2']) {
    const of = (kind: string) => files.filter((f) => f.startsWith(`${version}-${kind}-`));
    assert.ok(of('campaign-send-history').length >= 2, `${version} fixtures cover continue-as-new`);
    assert.ok(of('campaign-lifecycle-history').length >= 1, `${version} fixtures cover the lifecycle`);
    assert.ok(of('campaign-send-child-history').length >= 1, `${version} fixtures cover a send run as a child`);
  }
  const histories = files.map((file) => ({ workflowId: file, history: load(file) }));
  for await (const result of Worker.runReplayHistories(workflowCode(undefined), histories)) {
    assert.equal(result.error, undefined, `${result.workflowId}: ${String(result.error)}`);
  }
});

test('a run begun on version 1 replays on version 1: the stale-clock send fails exactly where it failed on its own code', async () => {
  await assert.rejects(
    Worker.runReplayHistory(workflowCode(undefined), load(STALE_CLOCK), 'campaign-send-1'),
    /Activity machine does not handle this event: HistoryEvent\(id: 242, TimerStarted\)/,
  );
});
