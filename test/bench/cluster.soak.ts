/**
 * npm run soak:cluster [-- --newsletter N --financial M --workers W --apis A --dev]
 *
 * The pipeline on the production shape, under fire: a self-hosted Temporal cluster
 * (local-stack/temporal-cluster.ts: frontend, history with 4 shards, matching and worker as
 * processes of their own on PostgreSQL; `--dev` runs the dev server instead, for comparison),
 * W campaign workers (default 3) and A API instances (default 2) taking Mailgun's webhooks
 * round-robin. A newsletter to N people (default 200,000) and a financial month for M customers
 * (default 10,000, with report files) start together. Meanwhile it SIGKILLs a campaign worker every
 * 10–20 s (a new one starts at once), kills the history service once and the matching service
 * once (each started again 5 s later), and restarts the campaigns PostgreSQL once.
 *
 * Prints JSON: duplicates and missing per campaign (must be 0), delivered webhooks recorded once
 * each, histories replayed, the longest time no message was accepted while campaigns were
 * sending (no campaign may wait more than 30 s on a dead process), the kills, and throughput.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { openApiServer } from '../../api/services.js';
import { MAILGUN_WEBHOOK_PATH } from '../../api/routes/webhooks.js';
import type { ApiServer } from '../../api/server.js';
import { FinancialSchedules } from '../../client/schedules.js';
import { financialRunWorkflowId, periodLabel } from '../../common/financial.js';
import { simulateAudience } from '../../local-stack/demo-engagement.js';
import { startPostgres } from '../../local-stack/postgres.js';
import { seedUsers } from '../../local-stack/seed.js';
import { financialRunOptions, loadConfig } from '../../worker/config.js';
import type { financialRun } from '../../workflows/financial-run.js';
import { deliveryReport } from '../helpers/delivery.js';
import { startHarness, type ChildWorker } from '../helpers/harness.js';
import { kindsOf, putFiles, storeSigningKey } from './financial-fixtures.js';

const { values } = parseArgs({
  options: {
    newsletter: { type: 'string', default: '200000' },
    financial: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '3' },
    apis: { type: 'string', default: '2' },
    dev: { type: 'boolean', default: false },
  },
});
const NEWSLETTER = Number(values.newsletter);
const CUSTOMERS = Number(values.financial);
const WORKERS = Number(values.workers);
const APIS = Number(values.apis);
const SIGNING_KEY = 'whsec-soak-0123456789abcdef';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const random = (min: number, max: number) => min + Math.random() * (max - min);

/** Spreads Mailgun's webhook POSTs over the API instances, one after the other. */
async function roundRobin(targets: string[]): Promise<{ url: string; close(): Promise<void> }> {
  let next = 0;
  const server: Server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', targets[next++ % targets.length]);
    const forward = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.once('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'cluster-soak-'));
const h = await startHarness({
  aws: true,
  postgres: { dataDir: join(dir, 'pg'), persistent: true },
  ...(values.dev ? {} : { temporalCluster: { historyShards: 4 } }),
  settings: { LOG_LEVEL: 'warn', FINANCIAL_MISSING_REPORTS: 'skip', SEND_RATE_PER_SECOND: '1000000', MAILGUN_WEBHOOK_SIGNING_KEY: SIGNING_KEY },
});
const apis: ApiServer[] = [];
const workers: ChildWorker[] = [];
const kills: Array<{ atSeconds: number; what: string }> = [];
let restartedPostgres: { stop(): Promise<void> } | undefined;
try {
  const aws = h.stack.aws;
  if (!aws) throw new Error('no AWS stand-ins');
  const profiles = await seedUsers(h.pool, Math.max(NEWSLETTER, CUSTOMERS), { mixed: false });
  await storeSigningKey(h);
  const period = { year: 2025, month: 1 };
  const s3 = aws.s3.client();
  await putFiles(s3, aws.s3.bucket, profiles.slice(0, CUSTOMERS), period);
  s3.destroy();

  for (let i = 0; i < APIS; i++) apis.push(await openApiServer(loadConfig({ ...h.env, API_PORT: '0', API_KEYS: `soak:admin:soak-key-0123456789abcdef${i}` }), pino({ level: 'warn' })));
  const proxy = await roundRobin(apis.map((api) => api.url));
  h.mailgun.configureWebhooks({ url: `${proxy.url}${MAILGUN_WEBHOOK_PATH}`, signingKey: SIGNING_KEY, events: ['delivered'], concurrency: 16 });
  const audience = simulateAudience(h.mailgun, { everyMs: 100, bouncePercent: 0, oneClickPercent: 0, complaintPercent: 0 });
  for (let i = 0; i < WORKERS; i++) workers.push(await h.spawnWorker());

  const started = Date.now();
  const at = () => Math.round((Date.now() - started) / 100) / 10;
  const newsletter = await h.campaigns.create({ name: 'Soak newsletter', type: 'newsletter', content: { subject: 'News', text: 'Hello %recipient.name%' }, audience: { limit: NEWSLETTER } });
  await h.campaigns.startSend(newsletter, { batchSize: 1000, window: 8 });
  const schedules = new FinancialSchedules(h.temporal, h.config.TEMPORAL_TASK_QUEUE, financialRunOptions(h.config));
  await schedules.upsert({ dayOfMonth: 1, hour: 6, minute: 0, timeZone: 'UTC', catchupWindowMs: 86_400_000 });
  await schedules.backfill(periodLabel(period), periodLabel(period));
  const financial = h.temporal.workflow.getHandle<typeof financialRun>(financialRunWorkflowId(period)).result();
  const newsletterDone = h.campaigns.result(newsletter);
  let done = false;
  void Promise.allSettled([financial, newsletterDone]).then(() => (done = true));

  // The longest time nothing was accepted while the campaigns were still sending.
  let longestStallMs = 0;
  const watcher = (async () => {
    let last = h.mailgun.accepted().length;
    let since = Date.now();
    while (!done) {
      await sleep(250);
      const now = h.mailgun.accepted().length;
      if (now > last) {
        last = now;
        since = Date.now();
      }
      longestStallMs = Math.max(longestStallMs, Date.now() - since);
    }
  })();
  const killer = (async () => {
    while (!done) {
      await sleep(random(10_000, 20_000));
      if (done) break;
      const index = Math.floor(Math.random() * workers.length);
      await workers[index]?.kill();
      kills.push({ atSeconds: at(), what: `campaign worker ${index}` });
      workers[index] = await h.spawnWorker();
    }
  })();
  const total = NEWSLETTER + CUSTOMERS;
  const outages = (async () => {
    const cluster = h.stack.cluster;
    for (const [share, what] of [[0.2, 'history'], [0.4, 'matching'], [0.6, 'postgres']] as const) {
      while (!done && h.mailgun.accepted().length < share * total) await sleep(200);
      if (done) break;
      if (what === 'postgres') {
        const { port, dataDir } = h.stack.postgres;
        await h.stack.postgres.stop();
        kills.push({ atSeconds: at(), what: 'campaigns PostgreSQL stopped' });
        await sleep(2_000);
        restartedPostgres = await startPostgres({ port, dataDir, persistent: true });
      } else if (cluster) {
        await cluster.kill(what);
        kills.push({ atSeconds: at(), what: `Temporal ${what} killed` });
        await sleep(5_000);
        await cluster.start(what);
      }
    }
  })();

  const [financialResult, newsletterResult] = await Promise.all([financial, newsletterDone]);
  const seconds = (Date.now() - started) / 1000;
  await Promise.all([watcher, killer, outages]);
  await audience.stop();
  await h.mailgun.settleWebhooks();
  await sleep(3_000);
  const reports = {
    newsletter: deliveryReport(h.mailgun, newsletter, profiles.slice(0, NEWSLETTER)),
    // Customers without report files are skipped (FINANCIAL_MISSING_REPORTS=skip).
    financial: deliveryReport(h.mailgun, financialResult.campaignId, profiles.slice(0, CUSTOMERS).filter((_, i) => kindsOf(i).length > 0), 'financial'),
  };
  const delivered = h.mailgun.accepted().filter((m) => [newsletter, financialResult.campaignId].includes(m.variables['campaign_id'] ?? '')).length;
  const recorded = await h.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM mailgun_events WHERE event = 'delivered' AND campaign_id = ANY ($1::bigint[])`, [
    [newsletter, financialResult.campaignId],
  ]);
  await Promise.all(workers.map((w) => w.stop()));
  const replayed = await h.replayAll();
  await proxy.close();
  console.log(
    JSON.stringify(
      {
        temporal: values.dev ? 'dev server (SQLite)' : 'cluster: frontend, history (4 shards), matching, worker on PostgreSQL',
        workers: WORKERS,
        apis: APIS,
        newsletter: { recipients: NEWSLETTER, status: newsletterResult.status, duplicates: reports.newsletter.duplicates.length, missing: reports.newsletter.missing.length },
        financial: { customers: CUSTOMERS, links: financialResult.linksSigned, duplicates: reports.financial.duplicates.length, missing: reports.financial.missing.length },
        seconds: Math.round(seconds * 10) / 10,
        recipientsPerSecond: Math.round(delivered / seconds),
        webhooks: { delivered, recordedOnce: recorded.rows[0]?.n ?? 0, posted: h.mailgun.webhookStats().posted },
        longestStallSeconds: Math.round(longestStallMs / 100) / 10,
        kills,
        historiesReplayed: replayed,
        machine: '2 cores, 24 GiB; every process on the same machine',
      },
      null,
      2,
    ),
  );
} finally {
  await Promise.allSettled([...workers.map((w) => w.stop()), ...apis.map((api) => api.stop())]);
  await h.stop();
  await restartedPostgres?.stop();
}
