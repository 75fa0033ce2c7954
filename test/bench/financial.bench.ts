/**
 * npm run bench:financial [-- --customers N --runs R]
 *
 * The monthly financial run end to end, against the local stack (Temporal,
 * PostgreSQL, s3rver, moto for Secrets Manager, the Mailgun-compatible server)
 * with the worker as its own process, as production runs it. N customers
 * (default 10,000): of every ten, eight have both report files, one only the
 * YouTube one, one none. Each run is a different month (a month runs once),
 * backfilled through the real Schedule.
 *
 * Prints, per run and as min/median/max: seconds from the backfill request to
 * the last batch Mailgun accepted, links signed per second (the link
 * activity's duration in the workflow history), and the worker's peak RSS; and
 * duplicates/missing recipients (must be 0). The Lambda this replaces took
 * 15-20 s and 150-300 MB per run; the target is under 10 s and 250 MB.
 */
import { parseArgs } from 'node:util';
import { FinancialSchedules } from '../../client/schedules.js';
import { financialRunWorkflowId, periodLabel } from '../../common/financial.js';
import { seedUsers } from '../../local-stack/seed.js';
import { financialRunOptions } from '../../worker/config.js';
import type { financialRun } from '../../workflows/financial-run.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { minMedianMax, round, samplePeakRss } from './figures.js';
import { putFiles, storeSigningKey } from './financial-fixtures.js';

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
  },
});
const customers = Number(values.customers);
const runs = Number(values.runs);
const MACHINE = '2 cores, 24 GiB; all services on the same machine';

/** The link activity's duration, from the run's history: scheduled to completed. */
async function linkSeconds(h: Harness, workflowId: string): Promise<number> {
  const history = await h.temporal.workflow.getHandle(workflowId).fetchHistory();
  let scheduled: number | undefined;
  let scheduledId: string | undefined;
  for (const event of history.events ?? []) {
    const time = Number(event.eventTime?.seconds ?? 0) * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === 'prepareReportLinks') {
      scheduled = time;
      scheduledId = String(event.eventId);
    }
    if (scheduled !== undefined && String(event.activityTaskCompletedEventAttributes?.scheduledEventId) === scheduledId) {
      return (time - scheduled) / 1000;
    }
  }
  throw new Error(`no completed prepareReportLinks in ${workflowId}`);
}

// Sending as fast as the local Mailgun server takes it, as bench:send does: the run, not a rate limit, is measured.
const h = await startHarness({
  aws: true,
  settings: { LOG_LEVEL: 'warn', TRACKING_WINDOW_MS: '1000', ANALYTICS_REFRESH_MS: '1000', SEND_RATE_PER_SECOND: '1000000', SEND_WINDOW: '4' },
});
try {
  const aws = h.stack.aws;
  if (!aws) throw new Error('no AWS stand-ins');
  const profiles = await seedUsers(h.pool, customers, { mixed: false });
  await storeSigningKey(h);
  const s3 = aws.s3.client();
  const schedules = new FinancialSchedules(h.temporal, h.config.TEMPORAL_TASK_QUEUE, financialRunOptions(h.config));
  await schedules.upsert({ dayOfMonth: 1, hour: 6, minute: 0, timeZone: 'UTC', catchupWindowMs: 86_400_000 });
  const worker = await h.spawnWorker();
  const rss = samplePeakRss(worker.process.pid ?? 0);

  const figures: Array<{ period: string; seconds: number; linksPerSecond: number; links: number; duplicates: number; missing: number }> = [];
  for (let run = 0; run < runs; run++) {
    const period = { year: 2025, month: 1 + run };
    const files = await putFiles(s3, aws.s3.bucket, profiles, period);
    h.mailgun.reset();
    const started = Date.now();
    await schedules.backfill(periodLabel(period), periodLabel(period));
    const workflowId = financialRunWorkflowId(period);
    const result = await h.temporal.workflow.getHandle<typeof financialRun>(workflowId).result();
    const accepted = h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === result.campaignId);
    const lastAccepted = accepted.reduce((latest, m) => Math.max(latest, m.acceptedAt), 0);
    const counts = new Map<string, number>();
    for (const m of accepted) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
    const links = await linkSeconds(h, workflowId);
    figures.push({
      period: periodLabel(period),
      seconds: round((lastAccepted - started) / 1000, 2),
      linksPerSecond: Math.round(result.linksSigned / links),
      links: result.linksSigned,
      duplicates: [...counts.values()].filter((n) => n > 1).length,
      missing: profiles.filter((p) => !counts.has(p.email)).length,
    });
    console.log(`run ${run + 1} (${periodLabel(period)}): ${figures.at(-1)?.seconds} s to the last accepted batch, ${files} files, ${result.linksSigned} links signed`);
  }
  const peak = rss.stop();
  await worker.stop();
  s3.destroy();
  console.log(
    JSON.stringify(
      {
        customers,
        runs,
        endToEndSeconds: minMedianMax(figures.map((f) => f.seconds), 2),
        linksPerSecond: minMedianMax(figures.map((f) => f.linksPerSecond)),
        workerPeakRssMb: Math.round(peak),
        perRun: figures,
        duplicates: figures.reduce((sum, f) => sum + f.duplicates, 0),
        missing: figures.reduce((sum, f) => sum + f.missing, 0),
        target: 'under 10 s end to end and 250 MB worker RSS for 10,000 customers (the Lambda: 15-20 s, 150-300 MB)',
        machine: MACHINE,
      },
      null,
      2,
    ),
  );
} finally {
  await h.stop();
}
