/**
 * npm run bench:send [-- --users N --runs R --window W --batch-size B --rate R --batches-per-run P
 *                       --shared-rate S --shared-runs K]
 *
 * How fast the pipeline sends, next to how fast its own client and server allow.
 *
 * One process starts the local stack (Temporal, Postgres, the Mailgun-compatible
 * server of local-stack/mailgun-server.ts), seeds N unmixed users once (all
 * eligible, so N users means N recipients) and spawns one worker as its own
 * process, as production runs it. Then, `--runs` times (default 3), it measures:
 *
 * - pipeline: a fresh campaign over the same N users, end to end through Temporal,
 *   Postgres and the worker, in batches of `--batch-size` with `--window` batches
 *   in flight. Recipients/s = N / (start of send → the server's last acceptance).
 * - baseline (test/bench/raw-baseline.ts): mailgun.js alone, in this process, pushing
 *   the same N recipients with the same message shape, batch size and window to
 *   the same server. Recipients/s = N / (first request → last response).
 *
 * The worker's domain budget (SEND_RATE_PER_SECOND) is `--rate`, high by default, so
 * the pipeline sends as fast as it can. Then `--shared-runs` times (default `--runs`)
 * it restarts the worker with a budget of `--shared-rate` and sends two campaigns of N
 * at once on the one domain: their combined paced rate should be the budget (± 5 %).
 *
 * and their ratio, pipeline/baseline, per run. A second baseline sends `to` as a
 * form field per recipient, the message shape the pipeline sent before it sent
 * one address list (a request of ~1,000 parts, several times slower to build
 * and to parse): the ratio to it relates today's figures to earlier ones. The
 * measurements of a run alternate in order (odd runs baselines first, even runs
 * pipeline first), so none always gets the warmer JIT or the quieter machine. The server's records
 * are cleared before each measurement, so both start from an equally empty server.
 *
 * Caveats: every service shares one machine (see `machine` in the output), and the
 * baseline's client shares this process's event loop with the server, while the
 * pipeline's client runs in the worker process.
 *
 * Prints one line per run, then a summary JSON as the last thing on stdout:
 * min/median/max of both rates and of the ratio, the per-run figures, the worker's
 * peak RSS, the last run's history events per workflow run, and duplicates,
 * missing and unexpected recipients summed over the pipeline's runs (all must be 0).
 */
import { parseArgs } from 'node:util';
import { sendWorkflowId } from '../../common/campaign.js';
import { acceptedFor, acceptedRate, deliveryReport } from '../helpers/delivery.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { seedUsers, type SeedProfile } from '../../local-stack/seed.js';
import { minMedianMax, round, samplePeakRss } from './figures.js';
import { RAW_BASELINE_CAMPAIGN_ID, runRawBaseline, type MessageContent } from './raw-baseline.js';

interface BenchOptions {
  users: number;
  runs: number;
  window: number;
  batchSize: number;
  /** The domain's budget while the pipeline is measured against the raw baseline. */
  rate: number;
  batchesPerRun: number;
  /** The domain's budget while two campaigns share it. */
  sharedRate: number;
  sharedRuns: number;
}

interface SharedFigures {
  run: number;
  /** Both campaigns together, paced (see acceptedRate). */
  combinedPerSecond: number;
  ratio: number;
  perCampaignPerSecond: number[];
  duplicates: number;
  missing: number;
}

interface PipelineFigures {
  recipients: number;
  sent: number;
  failed: number;
  secondsToLastAccepted: number;
  recipientsPerSecond: number;
  secondsToWorkflowResult: number;
  historyEventsPerRun: number[];
  duplicates: number;
  missing: number;
  unexpected: number;
}

interface BaselineFigures {
  seconds: number;
  recipientsPerSecond: number;
}

interface RunFigures {
  run: number;
  order: 'baselines, pipeline' | 'pipeline, baselines';
  pipeline: PipelineFigures;
  baseline: BaselineFigures;
  /** Raw mailgun.js with a `to` field per recipient, as the pipeline sent before. */
  previousShape: BaselineFigures;
  ratio: number;
  ratioToPreviousShape: number;
}

const MACHINE = '2 cores, 24 GiB; all services on the same machine';

/** Subject, html and text of the bench campaign; `from` is the worker's MAILGUN_FROM, as the campaign sets none. */
const CONTENT = {
  subject: 'Your statement, %recipient.name%',
  html: '<p>Hello %recipient.name%</p>',
  text: 'Hello %recipient.name%',
};

function parseOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '100000' },
      runs: { type: 'string', default: '3' },
      window: { type: 'string', default: '8' },
      'batch-size': { type: 'string', default: '1000' },
      rate: { type: 'string', default: '1000000' },
      'batches-per-run': { type: 'string', default: '200' },
      'shared-rate': { type: 'string', default: '10000' },
      'shared-runs': { type: 'string' },
    },
  });
  const options = {
    users: Number(values.users),
    runs: Number(values.runs),
    window: Number(values.window),
    batchSize: Number(values['batch-size']),
    rate: Number(values.rate),
    batchesPerRun: Number(values['batches-per-run']),
    sharedRate: Number(values['shared-rate']),
    sharedRuns: Number(values['shared-runs'] ?? values.runs),
  };
  for (const [name, value] of Object.entries(options)) {
    if (!(value > 0) && !(name === 'sharedRuns' && value === 0)) throw new Error(`--${name} must be a positive number, got ${value}`);
  }
  return options;
}

/** The raw mailgun.js baseline against the harness's Mailgun server. */
async function measureBaseline(
  h: Harness,
  profiles: SeedProfile[],
  options: BenchOptions,
  toField: 'list' | 'per-recipient' = 'list',
): Promise<BaselineFigures> {
  h.mailgun.reset();
  const target = { url: h.mailgun.url, apiKey: h.mailgun.apiKey, domain: h.config.MAILGUN_DOMAIN, timeoutMs: h.config.MAILGUN_TIMEOUT_MS };
  const content: MessageContent = { from: h.config.MAILGUN_FROM, ...CONTENT };
  const result = await runRawBaseline(target, profiles, content, { batchSize: options.batchSize, window: options.window, toField });
  const report = deliveryReport(h.mailgun, RAW_BASELINE_CAMPAIGN_ID, profiles);
  if (report.delivered !== profiles.length || report.missing.length > 0 || report.duplicates.length > 0) {
    throw new Error(`the raw baseline delivered ${report.delivered} of ${profiles.length} recipients`);
  }
  return { seconds: round(result.seconds, 2), recipientsPerSecond: Math.round(result.recipientsPerSecond) };
}

/** One fresh campaign over the seeded users, end to end through the worker. */
async function measurePipeline(h: Harness, profiles: SeedProfile[], options: BenchOptions, run: number): Promise<PipelineFigures> {
  h.mailgun.reset();
  const campaignId = await h.campaigns.create({ name: `bench ${options.users} run ${run}`, type: 'newsletter', content: CONTENT, audience: {} });
  const started = Date.now();
  await h.campaigns.startSend(campaignId, { batchSize: options.batchSize, window: options.window, batchesPerRun: options.batchesPerRun });
  const result = await h.campaigns.result(campaignId);
  const finished = Date.now();

  const lastAccepted = h.mailgun
    .accepted()
    .reduce((latest, m) => (m.variables['campaign_id'] === campaignId ? Math.max(latest, m.acceptedAt) : latest), 0);
  const seconds = (lastAccepted - started) / 1000;
  const historyEventsPerRun: number[] = [];
  for await (const execution of h.temporal.workflow.list({ query: `WorkflowId = "${sendWorkflowId(campaignId)}"` })) {
    historyEventsPerRun.push(execution.historyLength);
  }
  const report = deliveryReport(h.mailgun, campaignId, profiles);
  return {
    recipients: result.total,
    sent: result.sent,
    failed: result.failed,
    secondsToLastAccepted: round(seconds, 2),
    recipientsPerSecond: Math.round(result.total / seconds),
    secondsToWorkflowResult: round((finished - started) / 1000, 2),
    historyEventsPerRun,
    duplicates: report.duplicates.length,
    missing: report.missing.length,
    unexpected: report.unexpected.length,
  };
}

/** Two campaigns over the same N users at once, on one domain whose budget is `--shared-rate`. */
async function measureShared(h: Harness, profiles: SeedProfile[], options: BenchOptions, run: number): Promise<SharedFigures> {
  h.mailgun.reset();
  const campaignIds = await Promise.all(
    ['A', 'B'].map((name) => h.campaigns.create({ name: `shared ${name} run ${run}`, type: 'newsletter', content: CONTENT, audience: {} })),
  );
  const tuning = { batchSize: options.batchSize, window: options.window, batchesPerRun: options.batchesPerRun };
  await Promise.all(campaignIds.map((id) => h.campaigns.startSend(id, tuning)));
  await Promise.all(campaignIds.map((id) => h.campaigns.result(id)));
  const combined = acceptedRate(acceptedFor(h.mailgun, ...campaignIds));
  const reports = campaignIds.map((id) => deliveryReport(h.mailgun, id, profiles));
  return {
    run,
    combinedPerSecond: Math.round(combined),
    ratio: round(combined / options.sharedRate, 3),
    perCampaignPerSecond: campaignIds.map((id) => Math.round(acceptedRate(acceptedFor(h.mailgun, id)))),
    duplicates: reports.reduce((n, r) => n + r.duplicates.length, 0),
    missing: reports.reduce((n, r) => n + r.missing.length, 0),
  };
}

/** Both measurements of one run, in alternating order (see the module comment). */
async function measureRun(h: Harness, profiles: SeedProfile[], options: BenchOptions, run: number): Promise<RunFigures> {
  const baselinesFirst = run % 2 === 1;
  const baselines = async () => ({
    baseline: await measureBaseline(h, profiles, options),
    previousShape: await measureBaseline(h, profiles, options, 'per-recipient'),
  });
  const before = baselinesFirst ? await baselines() : undefined;
  const pipeline = await measurePipeline(h, profiles, options, run);
  const { baseline, previousShape } = before ?? (await baselines());
  return {
    run,
    order: baselinesFirst ? 'baselines, pipeline' : 'pipeline, baselines',
    pipeline,
    baseline,
    previousShape,
    ratio: round(pipeline.recipientsPerSecond / baseline.recipientsPerSecond, 3),
    ratioToPreviousShape: round(pipeline.recipientsPerSecond / previousShape.recipientsPerSecond, 3),
  };
}

function describeRun({ run, order, pipeline, baseline, previousShape, ratio, ratioToPreviousShape }: RunFigures): string {
  return (
    `run ${run} (${order}): pipeline ${pipeline.recipientsPerSecond} recipients/s, ` +
    `raw mailgun.js ${baseline.recipientsPerSecond} recipients/s, ratio ${ratio}; ` +
    `raw with a to field per recipient ${previousShape.recipientsPerSecond}/s, ratio ${ratioToPreviousShape}`
  );
}

function summarise(options: BenchOptions, runs: RunFigures[], shared: SharedFigures[], workerPeakRssMb: number, historiesReplayed: number) {
  const sum = (pick: (p: PipelineFigures) => number) => runs.reduce((total, r) => total + pick(r.pipeline), 0);
  const last = runs.at(-1)?.pipeline;
  return {
    users: options.users,
    runs: runs.length,
    batchSize: options.batchSize,
    window: options.window,
    pipelineRecipientsPerSecond: minMedianMax(runs.map((r) => r.pipeline.recipientsPerSecond)),
    baselineRecipientsPerSecond: minMedianMax(runs.map((r) => r.baseline.recipientsPerSecond)),
    ratio: minMedianMax(runs.map((r) => r.ratio), 3),
    previousShapeBaselineRecipientsPerSecond: minMedianMax(runs.map((r) => r.previousShape.recipientsPerSecond)),
    ratioToPreviousShape: minMedianMax(runs.map((r) => r.ratioToPreviousShape), 3),
    perRun: runs.map(({ run, order, pipeline, baseline, previousShape, ratio, ratioToPreviousShape }) => ({
      run,
      order,
      pipelineRecipientsPerSecond: pipeline.recipientsPerSecond,
      baselineRecipientsPerSecond: baseline.recipientsPerSecond,
      previousShapeBaselineRecipientsPerSecond: previousShape.recipientsPerSecond,
      ratio,
      ratioToPreviousShape,
      pipelineSecondsToLastAccepted: pipeline.secondsToLastAccepted,
      pipelineSecondsToWorkflowResult: pipeline.secondsToWorkflowResult,
      baselineSeconds: baseline.seconds,
      sent: pipeline.sent,
    })),
    recipients: last?.recipients ?? 0,
    failed: sum((p) => p.failed),
    workerPeakRssMb: Math.round(workerPeakRssMb),
    workflowRuns: last?.historyEventsPerRun.length ?? 0,
    historyEventsPerRun: last?.historyEventsPerRun ?? [],
    duplicates: sum((p) => p.duplicates),
    missing: sum((p) => p.missing),
    unexpected: sum((p) => p.unexpected),
    sharedBudget: {
      campaigns: 2,
      recipientsEach: options.users,
      domainRatePerSecond: options.sharedRate,
      runs: shared.length,
      combinedPerSecond: minMedianMax(shared.map((s) => s.combinedPerSecond)),
      ratio: minMedianMax(shared.map((s) => s.ratio), 3),
      perRun: shared,
      duplicates: shared.reduce((n, s) => n + s.duplicates, 0),
      missing: shared.reduce((n, s) => n + s.missing, 0),
    },
    historiesReplayed,
    machine: MACHINE,
    baseline: 'mailgun.js alone, in the bench process (which also runs the Mailgun server), same batches, message shape and window',
    previousShapeBaseline: 'the same, with a to field per recipient (the message shape the pipeline sent before)',
  };
}

const options = parseOptions();
const h = await startHarness({ settings: { LOG_LEVEL: 'warn', WORKER_MAX_CONCURRENT_ACTIVITIES: String(options.window * 2) } });
try {
  const seedStart = Date.now();
  const profiles = await seedUsers(h.pool, options.users, { mixed: false });
  console.log(`seeded ${options.users} users in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

  const worker = await h.spawnWorker({ SEND_RATE_PER_SECOND: String(options.rate) });
  const rss = samplePeakRss(worker.process.pid ?? 0);
  const runs: RunFigures[] = [];
  for (let run = 1; run <= options.runs; run++) {
    runs.push(await measureRun(h, profiles, options, run));
    console.log(describeRun(runs.at(-1) as RunFigures));
  }
  const workerPeakRssMb = rss.stop();
  await worker.stop();

  const shared: SharedFigures[] = [];
  if (options.sharedRuns > 0) {
    const sharing = await h.spawnWorker({ SEND_RATE_PER_SECOND: String(options.sharedRate) });
    for (let run = 1; run <= options.sharedRuns; run++) {
      shared.push(await measureShared(h, profiles, options, run));
      const last = shared.at(-1) as SharedFigures;
      console.log(`shared run ${run}: two campaigns together ${last.combinedPerSecond}/s on a ${options.sharedRate}/s budget, ratio ${last.ratio}`);
    }
    await sharing.stop();
  }
  const historiesReplayed = await h.replayAll();

  console.log(JSON.stringify(summarise(options, runs, shared, workerPeakRssMb, historiesReplayed), null, 2));
} finally {
  await h.stop();
}
