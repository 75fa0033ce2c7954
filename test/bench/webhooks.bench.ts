/**
 * npm run bench:webhooks [-- --events N --connections C --runs R]
 *
 * Mailgun's webhooks under load: a separate process fires N signed events (default 100,000; a
 * tenth repeats of earlier ones, re-signed as Mailgun's retries are) at POST /webhooks/mailgun
 * over C keep-alive connections on loopback (default 32), against the API with an embedded
 * PostgreSQL and the Firestore emulator. Each run first measures a baseline: the same requests
 * with a wrong signing key, answered 401 after the signature check and nothing recorded.
 *
 * Prints per run and as min/median/max: events per second accepted, p50/p99 latency, the ratio
 * to the baseline, how long the Firestore projection took to settle afterwards, and whether
 * Aurora's and Firestore's counters equal the expected ones exactly (lost, double counted).
 * Target on a 2-core machine: at least 3,000 events/s, p99 under 100 ms, none lost or doubled.
 */
import { execFile } from 'node:child_process';
import { apiKeyOf } from '../../api/keys.js';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { pino } from 'pino';
import { startAnalyticsProjector } from '../../analytics/projector.js';
import { startApiServer } from '../../api/server.js';
import { createEventRecorder } from '../../api/webhooks/recorder.js';
import { AnalyticsClient } from '../../client/analytics.js';
import { CampaignClient } from '../../client/campaigns.js';
import { migrate } from '../../db/migrate.js';
import { createPool, type Pool } from '../../db/pool.js';
import { startFirestoreEmulator } from '../../local-stack/firestore.js';
import { startPostgres } from '../../local-stack/postgres.js';
import { seedUsers } from '../../local-stack/seed.js';
import { lifecycleOptions, loadConfig, senderDomains } from '../../worker/config.js';
import { connectFirestore } from '../../worker/connections.js';
import { minMedianMax, round } from './figures.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '32' },
    runs: { type: 'string', default: '3' },
    campaigns: { type: 'string', default: '4' },
    recipients: { type: 'string', default: '10000' },
  },
});
const events = Number(values.events);
const connections = Number(values.connections);
const runs = Number(values.runs);
const campaignsPerRun = Number(values.campaigns);
const recipients = Number(values.recipients);
const SIGNING_KEY = 'bench-signing-key-0123456789abcdef';
const MACHINE = '2 cores, 24 GiB; load generator, API, PostgreSQL and the Firestore emulator on the same machine';
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

interface LoadReport {
  events: number;
  duplicates: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
  expected: Record<string, Record<string, number>>;
}

async function load(url: string, key: string, count: number, campaignIds: string[]): Promise<LoadReport> {
  const args = ['--url', url, '--key', key, '--events', String(count), '--connections', String(connections)];
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'test/bench/webhook-load.ts', ...args, '--campaigns', campaignIds.join(','), '--recipients', String(recipients)],
    { cwd: projectRoot, maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as LoadReport;
}

async function newCampaigns(pool: Pool, run: number): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO campaigns (name, type, status, send_started_at) SELECT 'bench run ' || $1 || '.' || n, 'newsletter', 'tracking', now()
     FROM generate_series(1, $2) n RETURNING id::text`,
    [run, campaignsPerRun],
  );
  await pool.query('INSERT INTO campaign_stats (campaign_id, total, sent) SELECT unnest($1::bigint[]), $2, $2', [rows.map((r) => r.id), recipients]);
  return rows.map((r) => r.id);
}

const COUNTERS = ['delivered', 'opened', 'uniqueOpened', 'clicked', 'uniqueClicked', 'bounced', 'temporaryFailed', 'complained'] as const;

/** Expected minus actual, summed: what was lost and what was counted twice. */
function compare(expected: Record<string, Record<string, number>>, actual: Map<string, Record<string, unknown>>) {
  let lost = 0;
  let doubled = 0;
  for (const [campaignId, counts] of Object.entries(expected)) {
    for (const key of COUNTERS) {
      const diff = Number(actual.get(campaignId)?.[key] ?? 0) - (counts[key] ?? 0);
      if (diff > 0) doubled += diff;
      else lost -= diff;
    }
  }
  return { exact: lost === 0 && doubled === 0, lost, doubled };
}

async function main(): Promise<void> {
  const postgres = await startPostgres();
  const firestoreEmulator = await startFirestoreEmulator();
  const config = loadConfig({ DATABASE_URL: postgres.url, FIRESTORE_EMULATOR_HOST: firestoreEmulator.host, FIRESTORE_PROJECT_ID: firestoreEmulator.projectId });
  await migrate(postgres.url);
  const pool = createPool(postgres.url, config.DATABASE_POOL_SIZE);
  await seedUsers(pool, recipients, { mixed: false });
  const firestore = connectFirestore(config);
  const logger = pino({ level: 'warn' });
  const recorder = createEventRecorder(pool);
  const api = await startApiServer({
    campaigns: new CampaignClient({ pool, taskQueue: 'bench', lifecycle: lifecycleOptions(config), senderDomains: senderDomains(config) }),
    analytics: new AnalyticsClient({ pool }),
    apiKeys: [apiKeyOf('bench', ['admin'], 'bench-api-key-0123456789')],
    logger,
    host: '127.0.0.1',
    port: 0,
    webhooks: { signingKey: SIGNING_KEY, maxAgeMs: 300_000, recorder, ratePerMinute: Number.MAX_SAFE_INTEGER },
  });
  const projector = startAnalyticsProjector(pool, firestore.firestore, { intervalMs: config.ANALYTICS_PROJECTION_INTERVAL_MS, logger });

  const perRun = [];
  try {
    for (let run = 1; run <= runs; run++) {
      const campaignIds = await newCampaigns(pool, run);
      const baseline = await load(api.url, 'not-the-signing-key-000000', Math.min(events, 20_000), campaignIds);
      const report = await load(api.url, SIGNING_KEY, events, campaignIds);

      const settleStart = Date.now();
      for (;;) {
        const { rows } = await pool.query('SELECT 1 FROM campaign_stats WHERE campaign_id = ANY($1) AND events_version > projected_version', [campaignIds]);
        if (rows.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const settleMs = Date.now() - settleStart;

      const aurora = new Map<string, Record<string, unknown>>();
      const firestoreDocs = new Map<string, Record<string, unknown>>();
      for (const id of campaignIds) {
        aurora.set(id, { ...(await new AnalyticsClient({ pool }).campaign(id)).counters });
        firestoreDocs.set(id, (await firestore.firestore.collection('campaignAnalytics').doc(id).get()).data() ?? {});
      }
      const row = {
        run,
        events: report.events,
        duplicates: report.duplicates,
        answered200: report.statuses['200'] ?? 0,
        otherStatuses: Object.fromEntries(Object.entries(report.statuses).filter(([status]) => status !== '200')),
        eventsPerSecond: round(report.eventsPerSecond, 0),
        p50Ms: round(report.p50Ms, 1),
        p99Ms: round(report.p99Ms, 1),
        maxMs: round(report.maxMs, 1),
        baselineRequestsPerSecond: round(baseline.eventsPerSecond, 0),
        ratio: round(report.eventsPerSecond / baseline.eventsPerSecond, 2),
        projectionSettleMs: settleMs,
        aurora: compare(report.expected, aurora),
        firestore: compare(report.expected, firestoreDocs),
      };
      console.log(JSON.stringify(row));
      perRun.push(row);
    }
  } finally {
    await api.stop();
    await recorder.drain();
    await projector.stop();
    await Promise.allSettled([pool.end(), firestore.close()]);
    await firestoreEmulator.stop();
    await postgres.stop();
  }

  console.log(
    JSON.stringify({
      runs,
      events,
      connections,
      machine: MACHINE,
      eventsPerSecond: minMedianMax(perRun.map((r) => r.eventsPerSecond)),
      p50Ms: minMedianMax(perRun.map((r) => r.p50Ms), 1),
      p99Ms: minMedianMax(perRun.map((r) => r.p99Ms), 1),
      baselineRequestsPerSecond: minMedianMax(perRun.map((r) => r.baselineRequestsPerSecond)),
      ratio: minMedianMax(perRun.map((r) => r.ratio), 2),
      projectionSettleMs: minMedianMax(perRun.map((r) => r.projectionSettleMs)),
      allAnswered200: perRun.every((r) => r.answered200 === r.events),
      auroraExact: perRun.every((r) => r.aurora.exact),
      firestoreExact: perRun.every((r) => r.firestore.exact),
      lost: perRun.reduce((n, r) => n + r.aurora.lost + r.firestore.lost, 0),
      doubleCounted: perRun.reduce((n, r) => n + r.aurora.doubled + r.firestore.doubled, 0),
      perRun,
    }),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
