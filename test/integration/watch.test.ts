import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deliveryReport } from '../helpers/delivery.js';
import { describeRun, runCli } from '../helpers/cli.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';

/**
 * Where a person waits for a send: `campaign send --wait` and `campaign watch` show a live
 * progress bar on a terminal (here a real pseudo-terminal, tmux's) and JSON lines when piped;
 * Ctrl-C stops watching and never the campaign.
 */

const RECIPIENTS = 600;
const file = harnessForFile({ users: RECIPIENTS, seed: { mixed: false } });
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const execFileAsync = promisify(execFile);
const tmux = async (...args: string[]): Promise<string> => (await execFileAsync('tmux', args, { encoding: 'utf8' })).stdout;

async function draft(name: string): Promise<string> {
  return file.h.campaigns.create({ name, type: 'newsletter', content: { subject: name, text: 'Hello %recipient.name%' } });
}

test('piped, `campaign send --wait` prints one JSON line a second until the send is over, then its result', async () => {
  const campaignId = await draft('Watched through a pipe');
  const run = await runCli(['campaign', 'send', campaignId, '--wait', '--batch-size', '100', '--window', '1', '--rate', '200'], file.h.env);
  assert.equal(run.code, 0, describeRun(run));
  const lines = run.stdout.split('\n').filter((line) => line.startsWith('{"at":'));
  const samples = lines.map((line) => JSON.parse(line) as { status: string; sent: number; total: number; perSecond: number; etaSeconds: number | null });
  assert.ok(samples.length >= 3, `a line a second for a three-second send:\n${run.stdout}`);
  assert.ok(samples.every((s, i) => i === 0 || s.sent >= (samples[i - 1]?.sent ?? 0)), 'sent only grows');
  assert.ok(samples.some((s) => s.sent > 0 && s.sent < RECIPIENTS && s.perSecond > 0 && s.etaSeconds !== null), 'a rate and an ETA mid-send');
  assert.deepEqual([samples.at(-1)?.sent, samples.at(-1)?.total], [RECIPIENTS, RECIPIENTS]);
  assert.match(run.stdout, new RegExp(`"status": "sent",\\s+"total": ${RECIPIENTS},\\s+"sent": ${RECIPIENTS}`), 'then the result');
});

test('on a terminal, `campaign watch` draws a progress bar; Ctrl-C stops watching and the send goes on to the end', async () => {
  const campaignId = await draft('Watched on a terminal');
  // 600 at 40 a second: 15 s, time enough for the CLI to start and draw.
  await file.h.campaigns.startSend(campaignId, { batchSize: 40, window: 1, ratePerSecond: 40 });
  const session = `watch-${randomBytes(4).toString('hex')}`;
  const env = Object.entries(file.h.env).map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(' ');
  const command = `cd ${JSON.stringify(projectRoot)} && env ${env} ${JSON.stringify(process.execPath)} --import tsx client/cli.ts campaign watch ${campaignId}; echo "exit $?"; sleep 60`;
  await tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '12', command);
  const screen = () => tmux('capture-pane', '-p', '-t', session);
  try {
    const bar = await waitFor(async () => {
      const text = await screen();
      return /sending \|[█░]+\| (\d+)\/600 sent · 0 failed · \d+\/s · ETA \d+:\d\d/.exec(text)?.[1] !== undefined && Number(/\| (\d+)\/600/.exec(text)?.[1]) > 0 ? text : undefined;
    }, { what: 'a moving progress bar', timeoutMs: 30_000, intervalMs: 200 }).catch(async (error: unknown) => {
      throw new Error(`${String(error)}; the terminal shows:\n${await screen()}`);
    });
    assert.doesNotMatch(bar, /^\{"at"/m, 'no JSON lines on a terminal');

    await tmux('send-keys', '-t', session, 'C-c');
    const stopped = await waitFor(async () => {
      const text = await screen();
      return text.includes('exit 0') ? text : undefined;
    }, { what: 'the watcher to stop', timeoutMs: 15_000 });
    assert.match(stopped, new RegExp(`Stopped watching; campaign ${campaignId} goes on`));
    const stoppedAt = (await file.h.campaigns.progress(campaignId)).sent;
    assert.ok(stoppedAt < RECIPIENTS, 'stopped before the end');

    const result = await file.h.campaigns.result(campaignId);
    assert.deepEqual([result.status, result.sent], ['sent', RECIPIENTS], 'the campaign was never stopped');
    const report = deliveryReport(file.h.mailgun, campaignId, file.profiles);
    assert.deepEqual([report.duplicates.length, report.missing.length], [0, 0]);
  } finally {
    await tmux('kill-session', '-t', session).catch(() => undefined);
  }
});
