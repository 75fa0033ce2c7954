import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { sendWorkflowId } from '../../common/campaign.js';
import { findCampaign } from '../../db/campaigns.js';
import { describeRun, runCli as runCliWith, type CliRun } from '../helpers/cli.js';
import { harnessForFile } from '../helpers/harness.js';
import { isEligible } from '../../local-stack/seed.js';


const file = harnessForFile({ users: 100 });

/** Runs `dn-campaigns <args>` as a user would, against the test stack. */
function runCli(args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
  return runCliWith(args, { ...file.h.env, ...extraEnv });
}

/** The CLI prints one pretty-printed JSON document per value. */
function jsonDocuments(stdout: string): unknown[] {
  return stdout
    .trim()
    .split(/\n(?=\{)/)
    .map((doc) => JSON.parse(doc) as unknown);
}

interface ShowOutput {
  campaign: { id: string; name: string; type: string; status: string; totalRecipients: number | null };
  stats: { total: number; sent: number; failed: number } | undefined;
  ledger: Array<{ state: string; parts: number; recipients: number }>;
}

test('create, send --wait, show and progress a campaign from the command line', async () => {
  const audience = file.profiles.filter((p) => isEligible(p, 'newsletter')).slice(0, 50);
  assert.equal(audience.length, 50, 'the seed has enough eligible users');

  const created = await runCli([
    'campaign', 'create',
    '--name', 'Demo',
    '--type', 'newsletter',
    '--subject', 'Hi %recipient.name%',
    '--text', 'Hello',
    '--email-type', 'newsletter',
    '--limit', '50',
  ]);
  assert.equal(created.code, 0, describeRun(created));
  const { campaignId } = JSON.parse(created.stdout) as { campaignId: string };
  assert.match(campaignId, /^[1-9]\d*$/);
  const stored = await findCampaign(file.h.pool, campaignId);
  assert.equal(stored?.name, 'Demo');
  assert.equal(stored?.status, 'draft');
  assert.deepEqual(stored?.content, { subject: 'Hi %recipient.name%', text: 'Hello', html: undefined, from: undefined });

  const sent = await runCli(['campaign', 'send', campaignId, '--wait', '--rate', '100000']);
  assert.equal(sent.code, 0, describeRun(sent));
  assert.ok(sent.stdout.includes(sendWorkflowId(campaignId)), describeRun(sent));
  // Piped: what was started, a progress line a second until the send is over, then its result.
  const documents = jsonDocuments(sent.stdout);
  const [started, result] = [documents[0], documents.at(-1)];
  assert.equal((started as { workflowId?: string }).workflowId, `campaign-send-${campaignId}`);
  assert.ok(documents.slice(1, -1).every((line) => (line as { campaignId?: string; status?: string }).campaignId === campaignId), describeRun(sent));
  assert.deepEqual(result, { campaignId, status: 'sent', total: 50, sent: 50, failed: 0, unknownBatches: [] });

  const shown = await runCli(['campaign', 'show', campaignId]);
  assert.equal(shown.code, 0, describeRun(shown));
  const report = JSON.parse(shown.stdout) as ShowOutput;
  assert.equal(report.campaign.id, campaignId);
  assert.ok(['sent', 'tracking', 'analysed', 'archived'].includes(report.campaign.status), report.campaign.status);
  const { total, sent: sentCount, failed } = report.stats ?? {};
  assert.deepEqual({ total, sent: sentCount, failed }, { total: 50, sent: 50, failed: 0 });
  assert.ok(report.ledger.length > 0, 'the ledger has batches');
  assert.ok(report.ledger.every((row) => row.state === 'accepted'), `ledger: ${JSON.stringify(report.ledger)}`);
  assert.equal(report.ledger.reduce((sum, row) => sum + row.recipients, 0), 50);

  // From Aurora: the campaign's status, which the lifecycle moves on after the send.
  const progress = await runCli(['campaign', 'progress', campaignId]);
  assert.equal(progress.code, 0, describeRun(progress));
  const shownProgress = JSON.parse(progress.stdout) as { campaignId: string; status: string; total: number; sent: number };
  assert.ok(['sent', 'tracking', 'analysed', 'archived'].includes(shownProgress.status), shownProgress.status);
  assert.equal(shownProgress.campaignId, campaignId);
  assert.equal(shownProgress.sent, 50);
  // From the send workflow itself, finished: its own last word.
  const live = await runCli(['campaign', 'progress', campaignId, '--live']);
  assert.equal(live.code, 0, describeRun(live));
  assert.deepEqual(
    (({ status, sent, total }) => ({ status, sent, total }))(JSON.parse(live.stdout) as { status: string; total: number; sent: number }),
    { status: 'sent', sent: 50, total: 50 },
  );

  // The people who got it are exactly the first 50 eligible users, once each, personalised.
  const received = file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId);
  assert.deepEqual(received.map((m) => m.recipient).sort(), audience.map((p) => p.email).sort());
  const one = received.find((m) => m.recipient === audience[3]?.email);
  assert.equal(one?.subject, 'Hi %recipient.name%');
  assert.equal((one?.recipientVariables as { name?: string } | undefined)?.name, audience[3]?.name);

  // A second send from the CLI is refused and changes nothing.
  const again = await runCli(['campaign', 'send', campaignId]);
  assert.equal(again.code, 1, describeRun(again));
  assert.match(again.stderr, /^error: campaign \d+ is [a-z-]+: (it can no longer be edited or approved|its lifecycle has ended)$/m);
  assert.equal(file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId).length, 50);
});

test('bad create arguments exit non-zero naming the problem, and create nothing', async () => {
  const count = async () => Number((await file.h.pool.query<{ n: string }>('SELECT count(*) AS n FROM campaigns')).rows[0]?.n);
  const rowsBefore = await count();

  const badType = await runCli(['campaign', 'create', '--type', 'bogus', '--name', 'x']);
  assert.equal(badType.code, 1, describeRun(badType));
  assert.match(badType.stderr, /^error: .*\btype\b/m);
  assert.equal(badType.stdout, '');

  const badLimit = await runCli(['campaign', 'create', '--name', 'x', '--type', 'newsletter', '--limit', '-3']);
  assert.notEqual(badLimit.code, 0, describeRun(badLimit));
  assert.match(badLimit.stderr, /--limit/);
  assert.equal(badLimit.stdout, '');

  const noBody = await runCli(['campaign', 'create', '--name', 'x', '--type', 'newsletter', '--subject', 'Hi']);
  assert.equal(noBody.code, 1, describeRun(noBody));
  assert.match(noBody.stderr, /campaign\.content\.html/);

  const missingName = await runCli(['campaign', 'create', '--type', 'newsletter']);
  assert.notEqual(missingName.code, 0, describeRun(missingName));
  assert.match(missingName.stderr, /--name/);

  assert.equal(await count(), rowsBefore, 'no campaign row was written');
});

test('sending an unknown or malformed campaign id exits 1 with a clear message', async () => {
  const unknown = await runCli(['campaign', 'send', '424242']);
  assert.equal(unknown.code, 1, describeRun(unknown));
  assert.match(unknown.stderr, /^error: campaign 424242 does not exist/m);
  assert.equal(unknown.stdout, '');

  const malformed = await runCli(['campaign', 'send', 'abc']);
  assert.equal(malformed.code, 1, describeRun(malformed));
  assert.match(malformed.stderr, /^error: .*campaignId/m);
  assert.equal(malformed.stdout, '');

  const unknownProgress = await runCli(['campaign', 'progress', '424242']);
  assert.equal(unknownProgress.code, 1, describeRun(unknownProgress));
  assert.match(unknownProgress.stderr, /campaign 424242 does not exist/);

  await assert.rejects(file.h.temporal.workflow.getHandle(sendWorkflowId('424242')).describe(), WorkflowNotFoundError);
});

test('an invalid configuration exits 1 naming the variable', async () => {
  const run = await runCli(['campaign', 'show', '1'], { SEND_WINDOW: 'lots' });
  assert.equal(run.code, 1, describeRun(run));
  assert.match(run.stderr, /SEND_WINDOW/);
  assert.equal(run.stdout, '');
});

test('--help lists the campaign commands', async () => {
  const top = await runCli(['--help']);
  assert.equal(top.code, 0, describeRun(top));
  assert.match(top.stdout, /^\s+campaign\b/m);

  const help = await runCli(['campaign', '--help']);
  assert.equal(help.code, 0, describeRun(help));
  for (const command of ['create', 'send', 'progress', 'pause', 'resume', 'cancel', 'show']) {
    assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `help lists ${command}:\n${help.stdout}`);
  }
});
