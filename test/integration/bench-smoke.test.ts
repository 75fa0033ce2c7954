import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** A small run of `npm run bench:send`, so the benchmark keeps working; its figures are not asserted. */
test('the send benchmark runs end to end and reports no duplicates or missing recipients', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'test/bench/send.bench.ts', '--users', '3000'],
    { cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 300_000, maxBuffer: 10 * 1024 * 1024 },
  );
  const report = JSON.parse(stdout.slice(stdout.lastIndexOf('\n{') + 1)) as Record<string, unknown>;
  assert.equal(report['recipients'], 3000);
  assert.equal(report['sent'], 3000);
  assert.equal(report['duplicates'], 0);
  assert.equal(report['missing'], 0);
  assert.ok(typeof report['recipientsPerSecond'] === 'number' && report['recipientsPerSecond'] > 0);
  assert.ok(typeof report['workerPeakRssMb'] === 'number' && report['workerPeakRssMb'] > 0);
});
