import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** `npm run check:security` in CI: the black-box probes of the API, on a stack of their own, all pass. */

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

test('check:security: every probe of the API from outside finds it as it should be', async () => {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/check-security.ts'], {
      cwd: projectRoot,
      timeout: 240_000,
      maxBuffer: 64 * 1024 * 1024,
    }));
  } catch (error) {
    assert.fail(`check:security failed:\n${(error as { stdout?: string }).stdout ?? String(error)}`);
  }
  const lines = stdout.trim().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
  const summary = lines.at(-1);
  const probes = lines.filter((line) => 'name' in line);
  assert.ok(probes.length >= 18, `${probes.length} probes ran`);
  assert.deepEqual(probes.filter((p) => p['ok'] !== true), []);
  assert.deepEqual(summary, { probes: probes.length, passed: probes.length, failed: 0 });
});
