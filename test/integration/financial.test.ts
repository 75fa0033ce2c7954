import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { WorkflowFailedError } from '@temporalio/client';
import { verifySignedUrl } from '../../activities/cloudfront.js';
import { FinancialSchedules, FINANCIAL_SCHEDULE_ID } from '../../client/schedules.js';
import { financialRunWorkflowId, previousMonth, periodLabel, type ReportPeriod } from '../../common/financial.js';
import { CampaignMonthAttr } from '../../common/search-attributes.js';
import { campaignTransitions, FINANCIAL_RUN_SCOPE, findCampaign } from '../../db/campaigns.js';
import { demoReportFiles, putReportFiles } from '../../local-stack/s3.js';
import { financialRunOptions } from '../../worker/config.js';
import type { financialRun } from '../../workflows/financial-run.js';
import type { FinancialRunOptions, FinancialRunResult } from '../../workflows/financial-run-api.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';
import { startS3Proxy } from '../helpers/s3-proxy.js';

/**
 * The monthly financial run on real protocols: the Temporal Schedule, S3
 * (s3rver) for the report files, Secrets Manager (moto) for the CloudFront key
 * pair, Mailgun- and OpenAI-compatible servers, and a generated RSA key pair
 * whose public half verifies every link the run signs.
 */

const CLOUDFRONT_URL = 'https://reports.test.example';
const TIME_ZONE = 'America/Los_Angeles';
const CUSTOMERS = 40;
const file = harnessForFile({
  users: CUSTOMERS,
  seed: { mixed: false },
  worker: false,
  aws: true,
  settings: { CLOUDFRONT_URL, TRACKING_WINDOW_MS: '1500', ANALYTICS_REFRESH_MS: '1000', FINANCIAL_TIME_ZONE: TIME_ZONE },
});

let publicKey: KeyObject | undefined;

/** The key pair in Secrets Manager, as production keeps it; created once. */
async function ensureSigningKey(): Promise<KeyObject> {
  if (publicKey) return publicKey;
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secrets = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: file.h.env['SECRETS_MANAGER_ENDPOINT'],
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await secrets.send(
    new CreateSecretCommand({
      Name: file.h.config.CLOUDFRONT_KEY_SECRET_ID,
      SecretString: JSON.stringify({ keyPairId: 'KTESTKEYPAIR', privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) }),
    }),
  );
  secrets.destroy();
  publicKey = pair.publicKey;
  return publicKey;
}

/** Report files for the month: of every four customers, both files, YouTube only, streaming only, none. */
async function putFiles(period: ReportPeriod): Promise<void> {
  const aws = file.h.stack.aws;
  if (!aws) throw new Error('the stack was started without AWS stand-ins');
  const s3 = aws.s3.client();
  await putReportFiles(s3, aws.s3.bucket, demoReportFiles(file.profiles.map((p) => p.customId), period.year, period.month));
  s3.destroy();
}

function schedules(options: Partial<FinancialRunOptions> = {}): FinancialSchedules {
  return new FinancialSchedules(file.h.temporal, file.h.config.TEMPORAL_TASK_QUEUE, { ...financialRunOptions(file.h.config), ...options });
}

const SCHEDULE = { dayOfMonth: 1, hour: 6, minute: 0, timeZone: TIME_ZONE, catchupWindowMs: 86_400_000 };

async function runResult(period: string): Promise<FinancialRunResult> {
  return file.h.temporal.workflow.getHandle<typeof financialRun>(`financial-${period}`).result();
}

function messagesOf(campaignId: string) {
  return file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId && m.variables['dn_batch'] !== undefined);
}

async function campaignIdOf(period: string): Promise<string> {
  const { rows } = await file.h.pool.query<{ id: string }>('SELECT id FROM campaigns WHERE idempotency_key = $1 AND idempotency_scope = $2', [
    `financial-${period}`,
    FINANCIAL_RUN_SCOPE,
  ]);
  assert.equal(rows.length, 1, `one campaign for ${period}`);
  return rows[0]?.id ?? '';
}

const SUMMARIES = ['2 reports available', 'Your YouTube report is available', 'Your streaming report is available', 'No reports are available for you this month'];

/**
 * What the i-th seeded customer's message must carry (demoReportFiles: both
 * files, YouTube only, streaming only, none, in turn): the right summary line,
 * links to exactly their own files, each verifying against the public key and
 * valid for 25 days from `signedAt`, and nobody else's.
 */
function assertOwnLinks(
  recipientVariables: Readonly<Record<string, unknown>> | undefined,
  customId: string,
  i: number,
  period: ReportPeriod,
  key: KeyObject,
  signedAt: number,
): void {
  const vars = (recipientVariables ?? {}) as Record<string, string>;
  assert.equal(vars['report_summary'], SUMMARIES[i % 4], customId);
  // The emails show the text and HTML lists; the text list has one `Label (file): url` line per report.
  const urls = (vars['report_links_text'] ?? '').split('\n').filter(Boolean).map((line) => line.slice(line.indexOf(': ') + 2));
  assert.ok(!('youtube_url' in vars), 'variables the email does not show are not sent');
  const month = `${period.year}/${String(period.month).padStart(2, '0')}`;
  const expected = [
    ...(i % 4 === 0 || i % 4 === 1 ? [`Exports/${month}/${customId}/${customId}.zip`] : []),
    ...(i % 4 === 0 || i % 4 === 2 ? [`Distro/${month}/${customId}/${customId}.zip`] : []),
  ];
  assert.deepEqual(urls.map((u) => new URL(u).pathname.slice(1)), expected, `${customId}: exactly their own files`);
  for (const url of urls) {
    const check = verifySignedUrl(url, key);
    assert.ok(check.valid, `${url} verifies against the public key`);
    assert.equal(check.keyPairId, 'KTESTKEYPAIR');
    // Both reports: one signature covers them. One report: canned, or custom if signed before the month's listing was known.
    if (expected.length === 2) assert.equal(check.policy, 'custom', 'one signature covers both reports');
    assert.ok(check.resource.startsWith(`${CLOUDFRONT_URL}/`));
    const validFor = check.expiresAt.getTime() - signedAt;
    assert.ok(Math.abs(validFor - 25 * 86_400_000) < 120_000, `expires 25 days after the run (${validFor} ms)`);
    assert.ok(vars['report_links_html']?.includes(url.replaceAll('&', '&amp;')), 'the HTML carries the same link');
  }
  const others = file.profiles.filter((p) => p.customId !== customId).map((p) => p.customId);
  assert.ok(!others.some((id) => JSON.stringify(vars).includes(`/${id}/`)), `${customId} sees nobody else's links`);
}

test('each customer gets their own signed links: both files, one, none; every URL verifies and expires in 25 days', async () => {
  const key = await ensureSigningKey();
  const worker = await file.h.startWorker();
  try {
    await putFiles({ year: 2026, month: 8 });
    await schedules().upsert(SCHEDULE);
    const startedAt = Date.now();
    const { months } = await schedules().backfill('2026-08', '2026-08');
    assert.deepEqual(months.map((m) => [m.period, m.started, m.workflowId]), [['2026-08', true, 'financial-2026-08']]);

    const result = await runResult('2026-08');
    assert.deepEqual(
      [result.status, result.customers, result.linksSigned, result.filesMissing, result.linksIncluded],
      ['archived', CUSTOMERS, CUSTOMERS, CUSTOMERS, true],
    );
    const messages = messagesOf(result.campaignId);
    assert.equal(messages.length, CUSTOMERS, 'every customer once');
    assert.equal(new Set(messages.map((m) => m.recipient)).size, CUSTOMERS);

    for (const [i, profile] of file.profiles.entries()) {
      const message = messages.find((m) => m.recipient === profile.email);
      assertOwnLinks(message?.recipientVariables, profile.customId, i, { year: 2026, month: 8 }, key, startedAt);
    }
    const { rows } = await file.h.pool.query<{ report_links: number; report_files_missing: number }>(
      'SELECT report_links, report_files_missing FROM campaign_stats WHERE campaign_id = $1',
      [result.campaignId],
    );
    assert.deepEqual(rows[0], { report_links: CUSTOMERS, report_files_missing: CUSTOMERS });
    const run = await file.h.temporal.workflow.getHandle(financialRunWorkflowId({ year: 2026, month: 8 })).describe();
    assert.equal(run.typedSearchAttributes.get(CampaignMonthAttr), '2026-08');
  } finally {
    await worker.stop();
  }
});

test("the CRM's send-mail with attachReporting: its own email, with each recipient's links for the month below it", async () => {
  const key = await ensureSigningKey();
  const worker = await file.h.startWorker();
  try {
    await putFiles({ year: 2026, month: 6 });
    const chosen = file.profiles.slice(0, 8);
    const signedAt = Date.now();
    const { campaignId, recipientCount } = await file.h.campaigns.sendMail({
      to: chosen.map((p) => p.email),
      subject: 'Your June statements',
      html: '<html><body><p>Hello %recipient.name%, thanks for distributing with us.</p></body></html>',
      text: 'Hello %recipient.name%, thanks for distributing with us.',
      from: 'Distro Nation <statements@mg.distronation.com>',
      campaign: { name: 'June statements (CRM)', type: 'financial', month: 6, year: 2026 },
      attachReporting: true,
    });
    assert.equal(recipientCount, chosen.length);
    const messages = await waitFor(() => (messagesOf(campaignId).length >= chosen.length ? messagesOf(campaignId) : undefined), {
      what: 'the send-mail campaign to be sent',
    });
    assert.equal(messages.length, chosen.length, 'each recipient once');
    for (const [i, profile] of chosen.entries()) {
      const message = messages.find((m) => m.recipient === profile.email);
      assert.match(message?.html ?? '', /thanks for distributing with us\.<\/p><p>%recipient\.report_summary%\.<\/p>%recipient\.report_links_html%<\/body>/);
      assert.match(message?.text ?? '', /%recipient\.report_links_text%$/);
      assertOwnLinks(message?.recipientVariables, profile.customId, i, { year: 2026, month: 6 }, key, signedAt);
    }
    const { rows } = await file.h.pool.query<{ report_links: number; report_files_missing: number }>(
      'SELECT report_links, report_files_missing FROM campaign_stats WHERE campaign_id = $1',
      [campaignId],
    );
    assert.deepEqual(rows[0], { report_links: 8, report_files_missing: 8 }, 'of 8 customers: 2 with both files, 4 with one, 2 with none');
  } finally {
    await worker.stop();
  }
});

test('the schedule: applied twice is one schedule; a month runs once whatever triggers or backfills it', async () => {
  await ensureSigningKey();
  const worker = await file.h.startWorker();
  try {
    const first = await schedules().upsert(SCHEDULE);
    const second = await schedules().upsert({ ...SCHEDULE, note: 'applied again' });
    assert.equal(second.created, false);
    assert.equal(second.schedule.note, 'applied again');
    assert.deepEqual(second.schedule.spec, { dayOfMonth: 1, hour: 6, minute: 0, timeZone: TIME_ZONE });
    let count = 0;
    for await (const schedule of file.h.temporal.schedule.list()) if (schedule.scheduleId === FINANCIAL_SCHEDULE_ID) count++;
    assert.equal(count, 1, `one schedule (first apply created: ${first.created})`);

    const current = periodLabel(previousMonth(new Date(), TIME_ZONE));
    const triggered = await schedules().trigger();
    assert.deepEqual([triggered.period, triggered.started], [current, true]);
    assert.equal((await runResult(current)).status, 'archived');
    const campaignId = await campaignIdOf(current);
    const sent = messagesOf(campaignId).length;
    assert.equal(sent, CUSTOMERS);

    const again = await schedules().trigger();
    assert.deepEqual([again.period, again.started], [current, false]);
    assert.match(again.reason ?? '', /already ran/);
    const backfilled = await schedules().backfill(current, current);
    assert.deepEqual(backfilled.months.map((m) => [m.period, m.started]), [[current, false]]);
    await campaignIdOf(current); // still exactly one campaign
    assert.equal(messagesOf(campaignId).length, sent, 'no second email');

    const earlier = await schedules().backfill('2026-05', '2026-06');
    assert.deepEqual(earlier.months.map((m) => [m.period, m.started]), [['2026-05', true], ['2026-06', true]]);
    for (const period of ['2026-05', '2026-06']) {
      const result = await runResult(period);
      assert.deepEqual([result.period, result.status], [period, 'archived']);
      const campaign = await findCampaign(file.h.pool, result.campaignId);
      assert.equal(`${campaign?.reportYear}-${String(campaign?.reportMonth).padStart(2, '0')}`, period);
      const actors = (await campaignTransitions(file.h.pool, result.campaignId)).map((t) => `${t.status} by ${t.actor}`);
      assert.match(actors[0] ?? '', / by schedule$/, `the schedule made it: ${actors.join(' > ')}`);
    }
  } finally {
    await worker.stop();
  }
});

test("a caller's draft under a month's key (financial-YYYY-MM) cannot take that month's run: the run makes and sends its own", async () => {
  await ensureSigningKey();
  const worker = await file.h.startWorker();
  try {
    // Issue 15's attack: before the schedule fires, a caller creates a draft under the month's key.
    const planted = await file.h.campaigns.create(
      { name: 'Not the statements', type: 'financial', content: { subject: 'Hi', text: 'Hi' } },
      { idempotency: { caller: 'api:key-attacker', key: 'financial-2024-07' } },
    );
    const { months } = await schedules().backfill('2024-07', '2024-07');
    assert.deepEqual(months.map((m) => [m.period, m.started]), [['2024-07', true]]);
    const result = await runResult('2024-07');
    assert.equal(result.status, 'archived');
    assert.notEqual(result.campaignId, planted, 'the run made its own campaign');
    assert.equal(await campaignIdOf('2024-07'), result.campaignId);
    assert.equal(messagesOf(result.campaignId).length, CUSTOMERS, 'and sent the statements');
    assert.equal(messagesOf(planted).length, 0, "the caller's draft stays a draft");
    assert.equal((await findCampaign(file.h.pool, planted))?.approvedAt, null);
  } finally {
    await worker.stop();
  }
});

test('a run at 00:30 on the 1st in Los Angeles reports on the month before', async () => {
  await ensureSigningKey();
  const worker = await file.h.startWorker();
  try {
    // 00:30 on 1 April in Los Angeles is 07:30 UTC on 1 April: the period is March.
    await schedules().upsert({ ...SCHEDULE, hour: 0, minute: 30 });
    const { months } = await schedules().backfill('2026-03', '2026-03');
    assert.deepEqual(months.map((m) => [m.period, m.started]), [['2026-03', true]]);
    assert.equal((await runResult('2026-03')).status, 'archived');
  } finally {
    await schedules().upsert(SCHEDULE);
    await worker.stop();
  }
});

test('S3 answering 500 for a while is retried and the links come out complete', async () => {
  await ensureSigningKey();
  const aws = file.h.stack.aws;
  if (!aws) throw new Error('no AWS stand-ins');
  await putFiles({ year: 2026, month: 2 });
  const proxy = await startS3Proxy(aws.s3.endpoint);
  // More failures than the SDK's own three attempts: Temporal's retry of the activity finishes the job.
  proxy.failNext(5, /list-type=2/);
  const worker = await file.h.startWorker({ S3_ENDPOINT: proxy.endpoint });
  try {
    await schedules().upsert(SCHEDULE);
    await schedules().backfill('2026-02', '2026-02');
    const result = await runResult('2026-02');
    assert.deepEqual([result.status, result.linksSigned, result.filesMissing], ['archived', CUSTOMERS, CUSTOMERS]);
    assert.equal(proxy.failed, 5);
  } finally {
    await worker.stop();
    await proxy.stop();
  }
});

test('Secrets Manager unreachable: the run fails before any email; configured otherwise, it sends the standard email', async () => {
  await putFiles({ year: 2026, month: 1 });
  const worker = await file.h.startWorker({ SECRETS_MANAGER_ENDPOINT: 'http://127.0.0.1:9' });
  try {
    await schedules().upsert(SCHEDULE);
    await schedules().backfill('2026-01', '2026-01');
    await assert.rejects(runResult('2026-01'), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      let cause: unknown = error;
      let messages = '';
      while (cause instanceof Error) {
        messages += ` ${cause.message}`;
        cause = cause.cause;
      }
      assert.match(messages, /ALERT: financial campaign \d+ stopped before sending anything: the CloudFront signing key could not be loaded/);
      return true;
    });
    const campaignId = await campaignIdOf('2026-01');
    assert.equal(messagesOf(campaignId).length, 0, 'nothing was sent');
    assert.equal((await findCampaign(file.h.pool, campaignId))?.approvedAt, null, 'never approved');

    await schedules({ signingFailure: 'send-without-links' }).upsert(SCHEDULE);
    await schedules().backfill('2025-12', '2025-12');
    const result = await runResult('2025-12');
    assert.deepEqual([result.status, result.linksIncluded, result.linksSigned], ['archived', false, 0]);
    const messages = messagesOf(result.campaignId);
    assert.equal(messages.length, CUSTOMERS);
    assert.ok(messages.every((m) => m.html?.includes('Sign in to your Distro Nation dashboard') && !m.html.includes('%recipient.report')));
  } finally {
    await schedules().upsert(SCHEDULE);
    await worker.stop();
  }
});

test('the worker killed while the links are being prepared and while sending: completes, nobody twice', async () => {
  await ensureSigningKey();
  const aws = file.h.stack.aws;
  if (!aws) throw new Error('no AWS stand-ins');
  await putFiles({ year: 2025, month: 11 });
  const proxy = await startS3Proxy(aws.s3.endpoint);
  const listing = proxy.hold(/prefix=Distro/); // the second prefix's listing waits: the worker is inside the activity
  let worker = await file.h.spawnWorker({ S3_ENDPOINT: proxy.endpoint });
  try {
    await schedules().upsert(SCHEDULE);
    await schedules().backfill('2025-11', '2025-11');
    await listing.held;
    await worker.kill();
    listing.release();
    file.h.mailgun.setRandomFaults({ slow: 1, slowDelayMs: 400, seed: 3 });
    worker = await file.h.spawnWorker({ S3_ENDPOINT: proxy.endpoint });
    const campaignId = await waitFor(async () => {
      const { rows } = await file.h.pool.query<{ id: string }>(`SELECT id FROM campaigns WHERE idempotency_key = 'financial-2025-11'`);
      return rows[0]?.id;
    }, { what: 'the campaign' });
    await waitFor(() => messagesOf(campaignId).length > 0, { what: 'sending to begin' });
    await worker.kill();
    file.h.mailgun.setRandomFaults(null);
    worker = await file.h.spawnWorker({ S3_ENDPOINT: proxy.endpoint });
    const result = await runResult('2025-11');
    assert.deepEqual([result.status, result.linksSigned], ['archived', CUSTOMERS]);
    const recipients = messagesOf(campaignId).map((m) => m.recipient);
    assert.equal(recipients.length, CUSTOMERS, 'every customer once');
    assert.equal(new Set(recipients).size, CUSTOMERS, 'nobody twice');
  } finally {
    file.h.mailgun.setRandomFaults(null);
    await worker.stop();
    await proxy.stop();
  }
});
