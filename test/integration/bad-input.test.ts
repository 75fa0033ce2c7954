import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { NewCampaignInput, SendOptionsInput } from '../../client/validation.js';
import { sendWorkflowId } from '../../common/campaign.js';
import { findCampaign } from '../../db/campaigns.js';
import { assertSendRecorded } from '../helpers/aurora.js';
import { campaignError, invalidInput } from '../helpers/errors.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';
import { isEligible } from '../../local-stack/seed.js';
import { lifecycleOptions, senderDomains } from '../../worker/config.js';
import { CampaignClient } from '../../client/campaigns.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

const file = harnessForFile({ users: 20 });

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const result = await file.h.pool.query<{ n: string }>(sql, params);
  return Number(result.rows[0]?.n);
}

const campaignCount = () => count('SELECT count(*) AS n FROM campaigns');

/** No send workflow exists for the campaign, and nothing of a send was written to Aurora. */
async function assertNeverStarted(campaignId: string): Promise<void> {
  await assert.rejects(
    file.h.temporal.workflow.getHandle(sendWorkflowId(campaignId)).describe(),
    WorkflowNotFoundError,
    `no workflow ${sendWorkflowId(campaignId)} was started`,
  );
  const status = (await findCampaign(file.h.pool, campaignId))?.status ?? 'missing';
  assert.ok(['draft', 'configured', 'audience-ready', 'content-ready', 'preview-sent'].includes(status), `still a draft: ${status}`);
  assert.equal(await count('SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = $1', [campaignId]), 0);
  assert.equal(await count('SELECT count(*) AS n FROM send_ledger WHERE campaign_id = $1', [campaignId]), 0);
}

/** `text` as a regular expression that matches it literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function withContent(name: string): NewCampaignInput {
  return { name, type: 'newsletter', content: { subject: 'Hello %recipient.name%', text: 'Hello' } };
}

test('an unknown campaign id is refused as not-found by every operation, naming the id', async () => {
  const operations: Array<[string, () => Promise<unknown>]> = [
    ['get', () => file.h.campaigns.get('999999')],
    ['startSend', () => file.h.campaigns.startSend('999999')],
    ['progress', () => file.h.campaigns.progress('999999')],
    ['pause', () => file.h.campaigns.pause('999999')],
    ['resume', () => file.h.campaigns.resume('999999')],
    ['cancel', () => file.h.campaigns.cancel('999999')],
    ['result', () => file.h.campaigns.result('999999')],
  ];
  for (const [name, run] of operations) {
    await assert.rejects(run(), campaignError('not-found', /\b999999\b/), name);
  }
  await assert.rejects(file.h.temporal.workflow.getHandle(sendWorkflowId('999999')).describe(), WorkflowNotFoundError);
});

test('a malformed campaign id is invalid input naming campaignId', async () => {
  for (const id of ['abc', '0', '-1', '1.5', '']) {
    for (const [name, run] of [
      ['get', () => file.h.campaigns.get(id)],
      ['startSend', () => file.h.campaigns.startSend(id)],
      ['progress', () => file.h.campaigns.progress(id)],
      ['pause', () => file.h.campaigns.pause(id)],
      ['cancel', () => file.h.campaigns.cancel(id)],
    ] as Array<[string, () => Promise<unknown>]>) {
      await assert.rejects(run(), invalidInput(/campaignId/), `${name}(${JSON.stringify(id)})`);
    }
  }
});

test('a campaign without content cannot be sent, and nothing of a send happens', async () => {
  const campaignId = await file.h.campaigns.create({ name: 'No content yet', type: 'newsletter' });
  await assert.rejects(file.h.campaigns.startSend(campaignId), campaignError('invalid', /needs a subject and an html or text body/));
  await assertNeverStarted(campaignId);
  assert.equal(file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId).length, 0);
});

test('invalid campaign input is refused naming the field, and nothing is written', async () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['empty name', { name: '', type: 'newsletter' }, /campaign\.name\b/],
    ['blank name', { name: '   ', type: 'newsletter' }, /campaign\.name\b/],
    ['unknown type', { name: 'x', type: 'bogus' }, /campaign\.type\b/],
    ['subject without html or text', { name: 'x', type: 'newsletter', content: { subject: 'Hi' } }, /campaign\.content\.html\b/],
    ['negative limit', { name: 'x', type: 'newsletter', audience: { limit: -1 } }, /campaign\.audience\.limit\b/],
    ['zero limit', { name: 'x', type: 'newsletter', audience: { limit: 0 } }, /campaign\.audience\.limit\b/],
    [
      'unknown subscription status',
      { name: 'x', type: 'newsletter', audience: { subscriptionStatuses: ['maybe'] } },
      /campaign\.audience\.subscriptionStatuses\b/,
    ],
    ['unknown extra field', { name: 'x', type: 'newsletter', colour: 'red' }, /colour/],
    [
      'unknown content field',
      { name: 'x', type: 'newsletter', content: { subject: 'Hi', text: 'Hi', bcc: 'a@b.example' } },
      /bcc/,
    ],
  ];
  for (const [what, input, field] of cases) {
    const rowsBefore = await campaignCount();
    await assert.rejects(file.h.campaigns.create(input as NewCampaignInput), invalidInput(field), what);
    assert.equal(await campaignCount(), rowsBefore, `${what}: no campaign row was written`);
  }
});

test('a sender that is not a mailbox on our domains, or a line break in a subject or from, is refused naming the field, and nothing is written', async () => {
  // Issue 13 §3: a campaign created with --from 'Distro Nation' once failed and suppressed every recipient.
  const draft = await file.h.campaigns.create(withContent('Sender checks'));
  // The lifecycle writes the draft's first phase in the background: compare with the row once it has.
  const before = await waitFor(async () => {
    const row = await findCampaign(file.h.pool, draft);
    return row?.status === 'content-ready' ? row : undefined;
  }, { what: 'the draft’s first phase' });
  const testAddresses = () => count('SELECT count(*) AS n FROM test_addresses');
  const addressesBefore = await testAddresses();
  const domains = senderDomains(file.h.config).newsletter.join(', ');
  const mail = (fields: Record<string, string>) => ({
    to: [file.profiles[0]?.email ?? 'missing'],
    subject: 'Your statement',
    html: '<p>Hello %recipient.name%</p>',
    from: 'Distro Nation <no-reply@mg.distronation.com>',
    campaign: { name: 'Refused', type: 'newsletter' as const, month: 5, year: 2026 },
    ...fields,
  });
  const cases: Array<[string, Record<string, string>, string, RegExp]> = [
    ['no address', { from: 'Distro Nation' }, 'from', /must be addr@domain or Display Name <addr@domain>: not an address \(no @\)/],
    ['CR/LF in from', { from: 'Distro Nation <no-reply@mg.distronation.com>\r\nBcc: victim@x.example' }, 'from', /must not contain a line break/],
    ['LF in a quoted display name', { from: '"Distro\nNation" <no-reply@mg.distronation.com>' }, 'from', /must not contain a line break/],
    ['CR/LF in subject', { subject: 'Hello\r\nBcc: victim@x.example' }, 'subject', /must not contain a line break/],
    ['a trailing LF in subject', { subject: 'Hello\n' }, 'subject', /must not contain a line break/],
    [
      'a foreign domain',
      { from: 'Distro Nation <no-reply@other.example>' },
      'from',
      new RegExp(`must be an address on a domain this deployment sends from \\(${literal(domains)}\\); got other\\.example`),
    ],
  ];
  const named = (field: string, problem: RegExp) => invalidInput(new RegExp(`${literal(field)}: ${problem.source}`));
  for (const [what, fields, name, problem] of cases) {
    const rowsBefore = await campaignCount();
    await assert.rejects(
      file.h.campaigns.create({ name: 'Refused', type: 'newsletter', content: { subject: 'Hi', text: 'Hi', ...fields } }),
      named(`campaign.content.${name}`, problem),
      `create: ${what}`,
    );
    await assert.rejects(
      file.h.campaigns.configure(draft, { expectedVersion: before.configVersion, changes: { ...fields, testAddresses: ['new-tester@x.example'] } }),
      named(`configure.changes.${name}`, problem),
      `configure: ${what}`,
    );
    await assert.rejects(file.h.campaigns.sendMail(mail(fields)), named(`body.${name}`, problem), `send-mail: ${what}`);
    assert.equal(await campaignCount(), rowsBefore, `${what}: no campaign row was written`);
  }
  assert.equal(await testAddresses(), addressesBefore, 'no test address was saved');
  assert.deepEqual(await findCampaign(file.h.pool, draft), before, 'the draft is unchanged');
  await assertNeverStarted(draft);

  // On the deployment's own domain, with a quoted display name, the same sender is taken.
  const accepted = await file.h.campaigns.create({
    name: 'Good sender',
    type: 'newsletter',
    content: { subject: 'Hi', text: 'Hi', from: `"Distro Nation, Inc." <no-reply@${file.h.config.MAILGUN_DOMAIN.toUpperCase()}>` },
  });
  assert.equal((await findCampaign(file.h.pool, accepted))?.content?.from, `"Distro Nation, Inc." <no-reply@${file.h.config.MAILGUN_DOMAIN.toUpperCase()}>`);
});

test('invalid send options are refused naming the option, and no workflow starts', async () => {
  const campaignId = await file.h.campaigns.create(withContent('Bad options'));
  const cases: Array<[SendOptionsInput, RegExp]> = [
    [{ batchSize: 1001 }, /options\.batchSize\b/],
    [{ window: 0 }, /options\.window\b/],
    [{ batchSize: 0 }, /options\.batchSize\b/],
    [{ ratePerSecond: -5 }, /options\.ratePerSecond\b/],
  ];
  for (const [options, field] of cases) {
    await assert.rejects(file.h.campaigns.startSend(campaignId, options), invalidInput(field), JSON.stringify(options));
  }
  await assertNeverStarted(campaignId);
});

test('steering a campaign that was created but never sent is not-started', async () => {
  const campaignId = await file.h.campaigns.create(withContent('Never sent'));
  for (const [name, run] of [
    ['progress', () => file.h.campaigns.progress(campaignId)],
    ['pause', () => file.h.campaigns.pause(campaignId)],
    ['resume', () => file.h.campaigns.resume(campaignId)],
  ] as Array<[string, () => Promise<unknown>]>) {
    await assert.rejects(run(), campaignError('not-started', new RegExp(`\\b${campaignId}\\b`)), name);
  }
  await assertNeverStarted(campaignId);
});

test('a campaign is sent once: a second start is refused, during and after the send', async () => {
  const campaignId = await file.h.campaigns.create(withContent('Once only'));
  const first = await file.h.campaigns.startSend(campaignId, { batchSize: 5, ratePerSecond: 100_000 });
  assert.equal(first.workflowId, sendWorkflowId(campaignId));

  await assert.rejects(file.h.campaigns.startSend(campaignId), campaignError('wrong-phase', new RegExp(`\\b${campaignId}\\b.*no longer be edited or approved`)));

  const audience = file.profiles.filter((p) => isEligible(p));
  assert.ok(audience.length > 10, 'the seed has an audience');
  const result = await file.h.campaigns.result(campaignId);
  assert.deepEqual(result, { campaignId, status: 'sent', total: audience.length, sent: audience.length, failed: 0, unknownBatches: [] });

  // A finished campaign must not be sent again either.
  await assert.rejects(file.h.campaigns.startSend(campaignId), campaignError('wrong-phase', new RegExp(`\\b${campaignId}\\b`)));
  let sends = 0;
  for await (const run of file.h.temporal.workflow.list({ query: `WorkflowId = "${sendWorkflowId(campaignId)}"` })) sends += run.runId ? 1 : 0;
  assert.equal(sends, 1, 'one send workflow, one run');

  const received = file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId).map((m) => m.recipient);
  assert.deepEqual([...received].sort(), audience.map((p) => p.email).sort(), 'each recipient got the campaign exactly once');
  await assertSendRecorded(file.h.pool, campaignId);
});

test('a worker with invalid configuration exits 1 naming each bad variable', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: projectRoot,
    env: { ...process.env, ...file.h.env, SEND_BATCH_SIZE: '5000', DATABASE_URL: 'mysql://nope' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  assert.equal(signal, null, `the worker was not killed by the timeout; output:\n${stdout}${stderr}`);
  assert.equal(code, 1, `exit code; output:\n${stdout}${stderr}`);
  assert.match(stderr, /SEND_BATCH_SIZE/);
  assert.match(stderr, /DATABASE_URL/);
  assert.doesNotMatch(stdout, /worker started/);
});

test('previews go only to the deployment’s own domains: another address is refused naming it, and a worker will not send to one saved before', async () => {
  const rowsBefore = await campaignCount();
  await assert.rejects(
    file.h.campaigns.create({ ...withContent('Relay'), testAddresses: ['qa@distronation.example', 'anyone@gmail.example'] }),
    invalidInput(/campaign\.testAddresses\.1: previews go only to addresses on distronation\.example, x\.example \(PREVIEW_ALLOWED_DOMAINS\)/),
  );
  assert.equal(await campaignCount(), rowsBefore, 'nothing written');
  const draft = await file.h.campaigns.create({ ...withContent('Preview rules'), testAddresses: ['qa@team.distronation.example'] });
  const version = (await findCampaign(file.h.pool, draft))?.configVersion ?? 0;
  await assert.rejects(
    file.h.campaigns.configure(draft, { expectedVersion: version, changes: { testAddresses: ['anyone@gmail.example'] } }),
    invalidInput(/configure\.changes\.testAddresses\.0: previews go only/),
  );

  // A library caller without the rule saves one anyway: the worker still refuses to send there.
  const unchecked = new CampaignClient({ pool: file.h.pool, temporal: file.h.temporal, taskQueue: file.h.config.TEMPORAL_TASK_QUEUE, lifecycle: lifecycleOptions(file.h.config), senderDomains: senderDomains(file.h.config) });
  await unchecked.configure(draft, { expectedVersion: version, changes: { testAddresses: ['anyone@gmail.example'] } });
  const accepted = file.h.mailgun.acceptedCount;
  await assert.rejects(file.h.campaigns.preview(draft), /1 of the campaign's test addresses are not on distronation\.example, x\.example \(PREVIEW_ALLOWED_DOMAINS\)/);
  assert.equal(file.h.mailgun.acceptedCount, accepted, 'no preview went out');
});
