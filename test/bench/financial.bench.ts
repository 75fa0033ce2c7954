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
 * the last batch Mailgun accepted; the baseline, measured in the same run
 * (this process signing as many canned policies as the run stored links, with
 * the same key, on one core, nothing else) and the ratio of the two; links
 * stored per second (the link activity's duration in the workflow history)
 * and where each run's time went (phases); how long listing the month's files
 * takes with nothing else running (the S3 stand-in's share); and the CPU
 * seconds the run cost the worker, this process (s3rver and the Mailgun
 * stand-in run in it) and everything else (PostgreSQL, Temporal, moto);
 * the worker's peak RSS; and duplicates/missing recipients (must be 0). The
 * target: end to end at most 0.75 x the baseline, under 250 MB.
 */
import { sign, type KeyObject } from 'node:crypto';
import { parseArgs } from 'node:util';
import { objectUrl, policyDocument } from '../../activities/cloudfront.js';
import { listMonthReports } from '../../activities/report-files.js';
import { FinancialSchedules } from '../../client/schedules.js';
import { financialRunWorkflowId, periodLabel } from '../../common/financial.js';
import { seedUsers } from '../../local-stack/seed.js';
import { financialRunOptions } from '../../worker/config.js';
import type { financialRun } from '../../workflows/financial-run.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { cpuShares, minMedianMax, round, samplePeakRss } from './figures.js';
import { putFiles, reportKeys, storeSigningKey } from '../helpers/financial-fixtures.js';

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
  },
});
const customers = Number(values.customers);
const runs = Number(values.runs);
const MACHINE = '2 cores, 24 GiB; all services on the same machine';

/**
 * Where a run's time went, in seconds, from its history and Mailgun's log:
 * the backfill request to the run's start, each activity scheduled to
 * completed, the links done to the first accepted batch, and the sending.
 */
async function phases(h: Harness, workflowId: string, requested: number, accepted: { first: number; last: number }) {
  const history = await h.temporal.workflow.getHandle(workflowId).fetchHistory();
  const at = (time: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(time?.seconds ?? 0) * 1000 + Math.floor((time?.nanos ?? 0) / 1e6);
  const events = history.events ?? [];
  const scheduled = new Map<string, { type: string; time: number }>();
  const took = new Map<string, { scheduled: number; completed: number }>();
  for (const event of events) {
    const type = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (type) scheduled.set(String(event.eventId), { type, time: at(event.eventTime) });
    const done = scheduled.get(String(event.activityTaskCompletedEventAttributes?.scheduledEventId));
    if (done) took.set(done.type, { scheduled: done.time, completed: at(event.eventTime) });
  }
  const seconds = (from: number, to: number) => round((to - from) / 1000, 2);
  const links = took.get('prepareReportLinks');
  const campaign = took.get('createFinancialCampaign');
  if (!links || !campaign) throw new Error(`no completed prepareReportLinks or createFinancialCampaign in ${workflowId}`);
  return {
    toRunStart: seconds(requested, at(events[0]?.eventTime)),
    campaign: seconds(campaign.scheduled, campaign.completed),
    links: seconds(links.scheduled, links.completed),
    linksToFirstAccepted: seconds(links.completed, accepted.first),
    sending: seconds(accepted.first, accepted.last),
  };
}

/** Seconds this process takes to sign a canned policy for each key, one after the other: one core, nothing else. */
function oneCoreSigningSeconds(baseUrl: string, keys: string[], privateKey: KeyObject): number {
  const expires = Math.floor(Date.now() / 1000) + 25 * 86_400;
  const policies = keys.map((key) => Buffer.from(policyDocument(objectUrl(baseUrl, key), expires)));
  const started = performance.now();
  for (const policy of policies) sign('sha1', policy, privateKey);
  return (performance.now() - started) / 1000;
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
  const privateKey = await storeSigningKey(h);
  const s3 = aws.s3.client();
  const schedules = new FinancialSchedules(h.temporal, h.config.TEMPORAL_TASK_QUEUE, financialRunOptions(h.config));
  await schedules.upsert({ dayOfMonth: 1, hour: 6, minute: 0, timeZone: 'UTC', catchupWindowMs: 86_400_000 });
  const worker = await h.spawnWorker();
  const rss = samplePeakRss(worker.process.pid ?? 0);

  const figures: Array<{
    period: string;
    seconds: number;
    baselineSeconds: number;
    ratioToBaseline: number;
    phases: Awaited<ReturnType<typeof phases>>;
    cpuSeconds: { worker: number; benchProcess: number; others: number };
    listingAloneSeconds: number;
    linksPerSecond: number;
    links: number;
    duplicates: number;
    missing: number;
  }> = [];
  for (let run = 0; run < runs; run++) {
    const period = { year: 2025, month: 1 + run };
    const files = await putFiles(s3, aws.s3.bucket, profiles, period);
    h.mailgun.reset();
    const cpu = cpuShares(worker.process.pid ?? 0);
    const started = Date.now();
    await schedules.backfill(periodLabel(period), periodLabel(period));
    const workflowId = financialRunWorkflowId(period);
    const result = await h.temporal.workflow.getHandle<typeof financialRun>(workflowId).result();
    const accepted = h.mailgun.accepted().filter((m) => m.variables['campaign_id'] === result.campaignId);
    const lastAccepted = accepted.reduce((latest, m) => Math.max(latest, m.acceptedAt), 0);
    const firstAccepted = accepted.reduce((earliest, m) => Math.min(earliest, m.acceptedAt), lastAccepted);
    const counts = new Map<string, number>();
    for (const m of accepted) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
    const { process: workerCpu, self: benchCpu, others: othersCpu } = cpu.stop();
    const spent = await phases(h, workflowId, started, { first: firstAccepted, last: lastAccepted });
    const seconds = (lastAccepted - started) / 1000;
    const listingStarted = performance.now();
    await listMonthReports(s3, aws.s3.bucket, period.year, period.month);
    const listingAlone = (performance.now() - listingStarted) / 1000;
    const baseline = oneCoreSigningSeconds(h.config.CLOUDFRONT_URL, reportKeys(profiles, period).slice(0, result.linksSigned), privateKey);
    figures.push({
      period: periodLabel(period),
      seconds: round(seconds, 2),
      baselineSeconds: round(baseline, 2),
      ratioToBaseline: round(seconds / baseline, 2),
      phases: spent,
      cpuSeconds: { worker: workerCpu, benchProcess: benchCpu, others: othersCpu },
      listingAloneSeconds: round(listingAlone, 2),
      linksPerSecond: Math.round(result.linksSigned / spent.links),
      links: result.linksSigned,
      duplicates: [...counts.values()].filter((n) => n > 1).length,
      missing: profiles.filter((p) => !counts.has(p.email)).length,
    });
    console.log(
      `run ${run + 1} (${periodLabel(period)}): ${round(seconds, 2)} s to the last accepted batch (baseline ${round(baseline, 2)} s), ${files} files, ${result.linksSigned} links`,
    );
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
        baselineSeconds: minMedianMax(figures.map((f) => f.baselineSeconds), 2),
        ratioToBaseline: minMedianMax(figures.map((f) => f.ratioToBaseline), 2),
        linksSeconds: minMedianMax(figures.map((f) => f.phases.links), 2),
        listingAloneSeconds: minMedianMax(figures.map((f) => f.listingAloneSeconds), 2),
        linksPerSecond: minMedianMax(figures.map((f) => f.linksPerSecond)),
        workerPeakRssMb: Math.round(peak),
        perRun: figures,
        duplicates: figures.reduce((sum, f) => sum + f.duplicates, 0),
        missing: figures.reduce((sum, f) => sum + f.missing, 0),
        target: 'end to end at most 0.75 x the one-core signing baseline, worker peak RSS under 250 MB (the Lambda: 15-20 s, 150-300 MB for 10,000)',
        machine: MACHINE,
      },
      null,
      2,
    ),
  );
} finally {
  await h.stop();
}
