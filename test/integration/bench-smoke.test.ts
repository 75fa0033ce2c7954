import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Runs a benchmark script with small figures and returns the JSON report it prints last. */
async function runBench(script: string, args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    timeout: 300_000,
    maxBuffer: 10 * 1024 * 1024,
  });
  return JSON.parse(stdout.slice(stdout.lastIndexOf('\n{') + 1)) as Record<string, unknown>;
}

/** Small runs of the benchmarks, so they keep working; their figures are not asserted. */
test('the send benchmark runs the pipeline and its raw baseline, with no duplicates or missing recipients', async () => {
  const report = await runBench('test/bench/send.bench.ts', ['--users', '3000', '--runs', '1', '--shared-rate', '5000']);
  assert.equal(report['runs'], 1);
  assert.equal(report['recipients'], 3000);
  assert.equal(report['failed'], 0);
  assert.equal(report['duplicates'], 0);
  assert.equal(report['missing'], 0);
  assert.equal(report['unexpected'], 0);

  for (const figure of ['pipelineRecipientsPerSecond', 'baselineRecipientsPerSecond', 'ratio']) {
    const stats = report[figure] as Record<string, unknown> | undefined;
    for (const key of ['min', 'median', 'max']) {
      assert.ok(typeof stats?.[key] === 'number' && stats[key] > 0, `${figure}.${key} should be a positive number`);
    }
  }
  const perRun = report['perRun'] as Array<Record<string, unknown>>;
  assert.equal(perRun.length, 1);
  assert.equal(perRun[0]?.['sent'], 3000);
  assert.ok(typeof perRun[0]?.['ratio'] === 'number');

  assert.ok(typeof report['workerPeakRssMb'] === 'number' && report['workerPeakRssMb'] > 0);
  assert.ok(typeof report['workflowRuns'] === 'number' && report['workflowRuns'] > 0);
  assert.ok(Array.isArray(report['historyEventsPerRun']));
  assert.ok(typeof report['machine'] === 'string');

  const shared = report['sharedBudget'] as Record<string, unknown>;
  assert.deepEqual([shared['campaigns'], shared['runs'], shared['duplicates'], shared['missing']], [2, 1, 0, 0]);
  assert.ok(typeof (shared['ratio'] as Record<string, unknown>)['median'] === 'number');
  assert.ok(typeof report['historiesReplayed'] === 'number' && report['historiesReplayed'] > 0, 'every history of the run replayed');
});

test('the financial benchmark runs a month end to end, every customer once', async () => {
  const report = await runBench('test/bench/financial.bench.ts', ['--customers', '300', '--runs', '1']);
  assert.deepEqual([report['customers'], report['runs'], report['duplicates'], report['missing']], [300, 1, 0, 0]);
  const perRun = report['perRun'] as Array<Record<string, unknown>>;
  assert.equal(perRun[0]?.['links'], 510, 'of every ten customers, eight have two files and one has one');
  for (const figure of ['endToEndSeconds', 'linksPerSecond']) {
    const stats = report[figure] as Record<string, unknown> | undefined;
    assert.ok(typeof stats?.['median'] === 'number' && stats['median'] > 0, `${figure}.median`);
  }
  assert.ok(typeof report['workerPeakRssMb'] === 'number' && report['workerPeakRssMb'] > 0);
});

test('the webhook benchmark fires signed events from its own process; Aurora and Firestore count each exactly once', async () => {
  const report = await runBench('test/bench/webhooks.bench.ts', ['--events', '3000', '--runs', '1', '--recipients', '500']);
  assert.deepEqual([report['runs'], report['events'], report['allAnswered200']], [1, 3000, true]);
  assert.deepEqual([report['auroraExact'], report['firestoreExact'], report['lost'], report['doubleCounted']], [true, true, 0, 0]);
  for (const figure of ['eventsPerSecond', 'p99Ms', 'baselineRequestsPerSecond', 'ratio']) {
    const stats = report[figure] as Record<string, unknown> | undefined;
    assert.ok(typeof stats?.['median'] === 'number' && stats['median'] > 0, `${figure}.median`);
  }
  const perRun = report['perRun'] as Array<Record<string, unknown>>;
  assert.equal(perRun[0]?.['duplicates'], 300, 'a tenth are repeats');
});
