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
 * Prints JSON: duplicates and missing per campaign (must be 0; any message that reached someone
 * twice is listed), delivered webhooks recorded once each, histories replayed, the longest time no
 * message was accepted between the start and the last accepted message (no campaign may wait more
 * than 30 s on a dead process), the kills, and throughput: messages over the seconds to the last
 * one accepted (the campaigns close later, after their tracking window: campaignsClosedSeconds).
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
import { seedUsers } from '../../local-stack/seed.js';
import { financialRunOptions, loadConfig } from '../../worker/config.js';
import type { financialRun } from '../../workflows/financial-run.js';
import type { AcceptedMessage } from '../../local-stack/mailgun-server.js';
import { restartPostgres } from '../helpers/aurora.js';
import { deliveryReport } from '../helpers/delivery.js';
import { startHarness, type ChildWorker } from '../helpers/harness.js';
import { kindsOf, putFiles, storeSigningKey } from '../helpers/financial-fixtures.js';

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

/**
 * From the start to the last accepted message: how long sending took, and the longest time in it
 * that no message was accepted (the wait on a dead process; what follows the last message, the
 * campaigns' tracking and archiving, is not sending).
 */
function stalls(started: number, accepted: readonly AcceptedMessage[]): { sendingMs: number; longestStallMs: number } {
  const times = [started, ...accepted.map((m) => m.acceptedAt).sort((a, b) => a - b)];
  let longestStallMs = 0;
  for (let i = 1; i < times.length; i++) longestStallMs = Math.max(longestStallMs, (times[i] ?? 0) - (times[i - 1] ?? 0));
  return { sendingMs: (times.at(-1) ?? started) - started, longestStallMs };
}

/** The messages that reached someone twice, by Mailgun message id: when each was accepted, and to how many. */
function doubledBatches(started: number, accepted: readonly AcceptedMessage[], doubled: ReadonlySet<string>) {
  const batches = new Map<string, { campaign: string; acceptedAtSeconds: number; recipients: number }>();
  for (const m of accepted) {
    if (!doubled.has(m.recipient)) continue;
    const batch = batches.get(m.messageId) ?? { campaign: m.variables['campaign_id'] ?? '', acceptedAtSeconds: Math.round((m.acceptedAt - started) / 100) / 10, recipients: 0 };
    batch.recipients++;
    batches.set(m.messageId, batch);
  }
  return [...batches].slice(0, 10).map(([messageId, batch]) => ({ messageId, ...batch }));
}

const dir = mkdtempSync(join(tmpdir(), 'cluster-soak-'));
const h = await startHarness({
  aws: true,
  postgres: { dataDir: join(dir, 'pg'), persistent: true },
  ...(values.dev ? {} : { temporalCluster: { historyShards: 4 } }),
  settings: {
    LOG_LEVEL: 'warn',
    FINANCIAL_MISSING_REPORTS: 'skip',
    SEND_RATE_PER_SECOND: '1000000',
    MAILGUN_WEBHOOK_SIGNING_KEY: SIGNING_KEY,
    // Here the Mailgun stand-in shares one event loop with two APIs and 200,000+ webhooks: it can get
    // to a request seconds after the worker that sent it was killed, and accept it then. The settle
    // floor has to cover how late the server may act on a request, as its 30 s default does for
    // Mailgun; the tests' 0 (their stand-in answers at once) once let a 3 MB batch go out twice here.
    MAILGUN_EVENTS_SETTLE_MS: '15000',
  },
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
        kills.push({ atSeconds: at(), what: 'campaigns PostgreSQL stopped for 2 s' });
        restartedPostgres = await restartPostgres(h.stack.postgres, 2_000);
      } else if (cluster) {
        await cluster.kill(what);
        kills.push({ atSeconds: at(), what: `Temporal ${what} killed` });
        await sleep(5_000);
        await cluster.start(what);
      }
    }
  })();

  const [financialResult, newsletterResult] = await Promise.all([financial, newsletterDone]);
  const closedSeconds = (Date.now() - started) / 1000;
  await Promise.all([killer, outages]);
  await audience.stop();
  await h.mailgun.settleWebhooks();
  await sleep(3_000);
  const reports = {
    newsletter: deliveryReport(h.mailgun, newsletter, profiles.slice(0, NEWSLETTER)),
    // Customers without report files are skipped (FINANCIAL_MISSING_REPORTS=skip).
    financial: deliveryReport(h.mailgun, financialResult.campaignId, profiles.slice(0, CUSTOMERS).filter((_, i) => kindsOf(i).length > 0), 'financial'),
  };
  const accepted = h.mailgun.accepted().filter((m) => [newsletter, financialResult.campaignId].includes(m.variables['campaign_id'] ?? ''));
  const delivered = accepted.length;
  const { sendingMs, longestStallMs } = stalls(started, accepted);
  const doubled = [...reports.newsletter.duplicates, ...reports.financial.duplicates];
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
        seconds: Math.round(sendingMs / 100) / 10,
        recipientsPerSecond: Math.round(delivered / (sendingMs / 1000)),
        campaignsClosedSeconds: Math.round(closedSeconds * 10) / 10,
        webhooks: { delivered, recordedOnce: recorded.rows[0]?.n ?? 0, posted: h.mailgun.webhookStats().posted },
        longestStallSeconds: Math.round(longestStallMs / 100) / 10,
        kills,
        ...(doubled.length > 0 ? { doubledBatches: doubledBatches(started, accepted, new Set(doubled)) } : {}),
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
