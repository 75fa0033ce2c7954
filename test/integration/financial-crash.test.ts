import assert from 'node:assert/strict';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { verifySignedUrl } from '../../activities/cloudfront.js';
import { reportKey } from '../../activities/report-files.js';
import { FinancialSchedules } from '../../client/schedules.js';
import { financialRunWorkflowId, periodLabel } from '../../common/financial.js';
import { FINANCIAL_RUN_SCOPE } from '../../db/campaigns.js';
import { financialRunOptions } from '../../worker/config.js';
import type { financialRun } from '../../workflows/financial-run.js';
import { kindsOf, putFiles, storeSigningKey } from '../helpers/financial-fixtures.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';
import { startS3Proxy } from '../helpers/s3-proxy.js';

/**
 * The monthly run's link step killed halfway: the worker (its own process) is
 * SIGKILLed once the first page of links is stored and before the last one is;
 * the next worker resumes the step. Every customer still gets exactly their own
 * links, each verifying, and one email. And the step stores links while the
 * month is still being listed.
 */

const CUSTOMERS = 6_000;
const PERIOD = { year: 2025, month: 4 };
const SCHEDULE = { dayOfMonth: 1, hour: 6, minute: 0, timeZone: 'UTC', catchupWindowMs: 86_400_000 };

describe('the link step under a worker kill', () => {
  const file = harnessForFile({
    users: CUSTOMERS,
    seed: { mixed: false },
    worker: false,
    aws: true,
    settings: { TRACKING_WINDOW_MS: '1000', ANALYTICS_REFRESH_MS: '1000', SEND_RATE_PER_SECOND: '1000000' },
  });

  let publicKey: KeyObject;
  before(async () => {
    publicKey = createPublicKey(await storeSigningKey(file.h));
  });

  const schedules = () => new FinancialSchedules(file.h.temporal, file.h.config.TEMPORAL_TASK_QUEUE, financialRunOptions(file.h.config));

  async function campaignOf(period: typeof PERIOD): Promise<string> {
    return waitFor(
      async () => {
        const { rows } = await file.h.pool.query<{ id: string }>('SELECT id FROM campaigns WHERE idempotency_scope = $1 AND idempotency_key = $2', [
          FINANCIAL_RUN_SCOPE,
          financialRunWorkflowId(period),
        ]);
        return rows[0]?.id;
      },
      { what: 'the financial campaign', intervalMs: 20 },
    );
  }

  async function linksStored(campaignId: string): Promise<number> {
    const { rows } = await file.h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM report_links WHERE campaign_id = $1', [campaignId]);
    return rows[0]?.n ?? 0;
  }

  test('a worker killed between pages: the next one finishes the links, every customer gets theirs once', async () => {
    const aws = file.h.stack.aws ?? assert.fail('the stack has AWS stand-ins');
    const s3 = aws.s3.client();
    await putFiles(s3, aws.s3.bucket, file.profiles, PERIOD);
    s3.destroy();
    const expectedLinks = file.profiles.reduce((sum, _, i) => sum + kindsOf(i).length, 0);

    await schedules().upsert(SCHEDULE);
    const first = await file.h.spawnWorker();
    await schedules().backfill(periodLabel(PERIOD), periodLabel(PERIOD));
    const campaignId = await campaignOf(PERIOD);
    const storedAtKill = await waitFor(async () => (await linksStored(campaignId)) || undefined, { what: 'a first page of links', intervalMs: 10 });
    await first.kill();
    assert.ok(storedAtKill < expectedLinks, `killed halfway: ${storedAtKill} of ${expectedLinks} links stored`);

    const second = await file.h.spawnWorker();
    try {
      const handle = file.h.temporal.workflow.getHandle<typeof financialRun>(financialRunWorkflowId(PERIOD));
      const result = await handle.result();
      assert.deepEqual([result.status, result.customers, result.linksSigned], ['archived', CUSTOMERS, expectedLinks]);

      const history = await handle.fetchHistory();
      const attempts = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
      assert.ok(Math.max(...attempts) >= 2, 'the link step ran again on the second worker');

      const { rows } = await file.h.pool.query<{ email: string; kind: string; url: string }>(
        'SELECT u.email, l.kind, l.url FROM report_links l JOIN users u ON u.id = l.user_id WHERE l.campaign_id = $1',
        [campaignId],
      );
      assert.equal(rows.length, expectedLinks, 'one link per file, none lost, none twice');
      const byEmail = new Map<string, typeof rows>();
      for (const row of rows) byEmail.set(row.email, [...(byEmail.get(row.email) ?? []), row]);
      for (const [i, profile] of file.profiles.entries()) {
        const links = byEmail.get(profile.email) ?? [];
        assert.deepEqual(links.map((l) => l.kind).sort(), [...kindsOf(i)].sort(), `${profile.customId}: a link per file`);
        for (const link of links) {
          assert.ok(verifySignedUrl(link.url, publicKey).valid, `${profile.customId}: ${link.url} verifies`);
          const kind = link.kind === 'youtube' ? 'youtube' : 'streaming';
          assert.equal(new URL(link.url).pathname, `/${reportKey(kind, PERIOD.year, PERIOD.month, profile.customId)}`);
        }
      }

      const messages = file.h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === campaignId);
      assert.equal(messages.length, CUSTOMERS, 'one email per customer');
      assert.equal(new Set(messages.map((m) => m.recipient)).size, CUSTOMERS);
    } finally {
      await second.stop();
    }
  });
  test('pages of links are stored while the month is still being listed, not after the whole listing', async () => {
    const period = { year: 2025, month: 5 };
    const aws = file.h.stack.aws ?? assert.fail('the stack has AWS stand-ins');
    const s3 = aws.s3.client();
    await putFiles(s3, aws.s3.bucket, file.profiles, period);
    s3.destroy();
    // The streaming listing has 4,800 keys, five pages: its fourth waits, with customers up to about 3,750 listed. The
    // first page of customers (2,000, in report id order) is covered by then; the second is not.
    const firstPageLinks = file.profiles.slice(0, 2_000).reduce((sum, _, i) => sum + kindsOf(i).length, 0);
    const proxy = await startS3Proxy(aws.s3.endpoint);
    const fourthPage = proxy.hold(/prefix=Distro/, 3);
    const worker = await file.h.spawnWorker({ S3_ENDPOINT: proxy.endpoint });
    try {
      await schedules().upsert(SCHEDULE);
      await schedules().backfill(periodLabel(period), periodLabel(period));
      const campaignId = await campaignOf(period);
      await fourthPage.held;
      const stored = await waitFor(async () => ((await linksStored(campaignId)) >= firstPageLinks ? linksStored(campaignId) : undefined), {
        what: "the first page's links while the listing waits",
      });
      assert.equal(stored, firstPageLinks, 'the first page is stored, the next waits for the listing to pass it');
      fourthPage.release();
      const result = await file.h.temporal.workflow.getHandle<typeof financialRun>(financialRunWorkflowId(period)).result();
      const expectedLinks = file.profiles.reduce((sum, _, i) => sum + kindsOf(i).length, 0);
      assert.deepEqual([result.status, result.customers, result.linksSigned], ['archived', CUSTOMERS, expectedLinks]);
    } finally {
      fourthPage.release();
      await worker.stop();
      await proxy.stop();
    }
  });
});
