/**
 * `npm start`: a working pipeline on one machine. Whatever is not configured in
 * the environment runs locally — a Temporal dev server with its UI, an embedded
 * PostgreSQL (migrated, with demo users), the Firestore emulator, a
 * Mailgun-compatible sink and an OpenAI-compatible server — then the worker and
 * the trigger API start. With real settings in the environment
 * (TEMPORAL_ADDRESS, DATABASE_URL, MAILGUN_API_KEY, OPENAI_API_KEY, Firestore
 * credentials, API_KEYS) the same command runs against the real services.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { LOCAL_DATABASE_URL, loadConfigOrExit } from '../worker/config.js';
import { connectTemporal, openActivityDeps } from '../worker/connections.js';
import { createLogger } from '../worker/logger.js';
import { installTelemetry } from '../worker/telemetry.js';
import { createRegistry } from '../metrics/registry.js';
import { createWorker } from '../worker/worker.js';
import { startFirestoreEmulator } from '../local-stack/firestore.js';
import { simulateAudience } from '../local-stack/demo-engagement.js';
import { createMailgunServer, type MailgunServer } from '../local-stack/mailgun-server.js';
import { startPostgres } from '../local-stack/postgres.js';
import { seedUsers } from '../local-stack/seed.js';
import { LOCAL_POSTAL_ADDRESS } from '../local-stack/stack.js';
import { startTemporalDevServer, TemporalCliUnavailableError } from '../local-stack/temporal.js';
import { createOpenAIServer } from '../local-stack/openai-server.js';
import { startLocalReports } from '../local-stack/reports.js';
import { startTraceCollector } from '../local-stack/trace-collector.js';
import { installTracing } from '../tracing/provider.js';
import { previousMonth } from '../common/financial.js';
import { MAILGUN_WEBHOOK_PATH } from '../api/routes/webhooks.js';
import { openApiServer } from '../api/services.js';

const dataDir = fileURLToPath(new URL('../.data', import.meta.url));
const LOCAL = {
  temporalPort: 7233,
  uiPort: 8233,
  postgresPort: 55432,
  firestorePort: 8686,
  mailgunPort: 9025,
  openaiPort: 9026,
  s3Port: 9027,
  cloudFrontPort: 9028,
  metricsPort: 9464,
  tracesPort: 9029,
};
const DEMO_USERS = 1000;

type Stop = () => Promise<void>;

async function main(): Promise<void> {
  const given = process.env;
  const initial = loadConfigOrExit();
  const logger = createLogger(initial.LOG_LEVEL, 'start');
  // One process, one registry: the worker's, the SDK's and the API's figures at one URL.
  const registry = createRegistry();
  const telemetry = await installTelemetry(logger, { metricsAddress: initial.METRICS_ADDRESS ?? `127.0.0.1:${LOCAL.metricsPort}`, registry });
  mkdirSync(dataDir, { recursive: true });
  const stops: Stop[] = [() => telemetry.stop()];
  const local: Record<string, string> = {};
  const notes: string[] = [];

  try {
    if (!given.TEMPORAL_ADDRESS) {
      const temporal = await startTemporalDevServer({
        port: LOCAL.temporalPort,
        ui: true,
        uiPort: LOCAL.uiPort,
        dbFilename: `${dataDir}/temporal.db`,
        searchAttributes: CAMPAIGN_SEARCH_ATTRIBUTES.map((a) => ({ name: a.name, type: a.type })),
      });
      stops.push(() => temporal.stop());
      local.TEMPORAL_ADDRESS = temporal.address;
      notes.push(`Temporal UI:      ${temporal.uiUrl} (filter: CampaignType = "newsletter")`);
    }
    if (!given.DATABASE_URL) {
      const postgres = await startPostgres({ port: LOCAL.postgresPort, dataDir: `${dataDir}/postgres`, persistent: true });
      stops.push(() => postgres.stop());
      local.DATABASE_URL = postgres.url;
      if (postgres.url !== LOCAL_DATABASE_URL) notes.push(`PostgreSQL:       ${postgres.url}`);
    }
    if (!given.FIRESTORE_EMULATOR_HOST && !given.GOOGLE_APPLICATION_CREDENTIALS) {
      const firestore = await startFirestoreEmulator({ port: LOCAL.firestorePort });
      stops.push(() => firestore.stop());
      local.FIRESTORE_EMULATOR_HOST = firestore.host;
      notes.push(`Firestore:        emulator at ${firestore.host} (project ${firestore.projectId})`);
      local.FIRESTORE_PROJECT_ID = firestore.projectId;
    }
    let sink: MailgunServer | undefined;
    if (!given.MAILGUN_API_KEY) {
      const server = createMailgunServer({ port: LOCAL.mailgunPort });
      await server.start();
      sink = server;
      stops.push(() => server.stop());
      const audience = simulateAudience(server, {
        onPreferencesLink: (recipient, url) =>
          console.log(`The first newsletter or outreach went out. ${recipient}'s preferences page (open it in a browser): ${url}`),
        onError: (error) => logger.warn({ err: error }, 'the demo audience could not unsubscribe'),
      });
      stops.push(() => audience.stop());
      Object.assign(local, { MAILGUN_API_KEY: server.apiKey, MAILGUN_URL: server.url });
      if (!given.MAILGUN_WEBHOOK_SIGNING_KEY) local.MAILGUN_WEBHOOK_SIGNING_KEY = `local-${randomBytes(16).toString('hex')}`;
      notes.push(
        `Mailgun:          local sink at ${server.url} (no MAILGUN_API_KEY set; nothing leaves this machine);`,
        '                  it delivers every message, some are opened and clicked, a few bounce, complain or press',
        '                  one-click unsubscribe, and its webhooks post to the API',
      );
    }
    if (!given.OTEL_EXPORTER_OTLP_ENDPOINT) {
      const collector = await startTraceCollector({ port: LOCAL.tracesPort });
      stops.push(() => collector.stop());
      local.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url;
      notes.push(`Traces:           local OTLP receiver at ${collector.url}: GET ${collector.url}/traces lists the latest, /traces/<id> one`);
    }
    if (!given.OPENAI_API_KEY) {
      const openai = createOpenAIServer({ port: LOCAL.openaiPort });
      await openai.start();
      stops.push(() => openai.stop());
      Object.assign(local, { OPENAI_API_KEY: openai.apiKey, OPENAI_BASE_URL: `${openai.url}/v1` });
      notes.push(`OpenAI:           local stand-in at ${openai.url} (no OPENAI_API_KEY set; drafts are labelled placeholders)`);
    }
    // A key for this run only, unless API_KEYS says otherwise.
    const localKey = `local-${randomBytes(12).toString('hex')}`;
    if (!given.API_KEYS && !given.API_KEYS_FILE) local.API_KEYS = `local:admin:${localKey}`;
    // Unsubscribe links to this API, signed with a key of this run, unless configured.
    if (!given.UNSUBSCRIBE_SECRET) local.UNSUBSCRIBE_SECRET = randomBytes(32).toString('hex');
    if (!given.PUBLIC_URL) local.PUBLIC_URL = `http://${given.API_HOST ?? '127.0.0.1'}:${given.API_PORT ?? '3000'}`;
    if (!given.SENDER_POSTAL_ADDRESS) local.SENDER_POSTAL_ADDRESS = LOCAL_POSTAL_ADDRESS;

    let config = loadConfigOrExit({ ...given, ...local });
    await migrate(config.DATABASE_URL);
    const customIds = await seedDemoUsers(config.DATABASE_URL);
    if (!given.S3_ENDPOINT && !given.AWS_ACCESS_KEY_ID) {
      const reports = await startLocalReports({
        directory: `${dataDir}/reports`,
        s3Port: LOCAL.s3Port,
        cloudFrontPort: LOCAL.cloudFrontPort,
        customIds,
        periods: [previousMonth(new Date(), config.FINANCIAL_TIME_ZONE)],
      });
      stops.push(() => reports.stop());
      Object.assign(local, reports.env);
      notes.push(...reports.notes);
      config = loadConfigOrExit({ ...given, ...local });
    }

    // Before the first Temporal client, so its calls carry trace context.
    const tracing = installTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: config.OTEL_SERVICE_NAME ?? 'dn-campaigns' });
    stops.push(() => tracing.shutdown());
    const resources = openActivityDeps(config, registry);
    stops.push(() => resources.close());
    const connection = await connectTemporal(config);
    stops.push(() => connection.close());
    const worker = await createWorker(connection, config, resources.deps, tracing);
    const api = await openApiServer(config, logger, registry);
    stops.push(() => api.stop());
    if (sink && config.MAILGUN_WEBHOOK_SIGNING_KEY) {
      sink.configureWebhooks({ url: `${api.url}${MAILGUN_WEBHOOK_PATH}`, signingKey: config.MAILGUN_WEBHOOK_SIGNING_KEY });
    }
    const apiKey = local.API_KEYS ? localKey : '<key>';

    const cli = local.DATABASE_URL && local.DATABASE_URL !== LOCAL_DATABASE_URL ? `DATABASE_URL=${local.DATABASE_URL} npx dn-campaigns` : 'npx dn-campaigns';
    console.log(
      [
        '',
        'Campaign pipeline is running. Ctrl-C stops it.',
        ...notes.map((n) => `  ${n}`),
        `  Worker:           task queue "${config.TEMPORAL_TASK_QUEUE}" on ${config.TEMPORAL_ADDRESS}`,
        `  Trigger API:      ${api.url} (OpenAPI at ${api.url}/openapi.json)`,
        `  API key:          ${given.API_KEYS ? '(from API_KEYS)' : apiKey}`,
        `  Metrics:          ${telemetry.metrics?.url ?? '(off)'} (Prometheus; readiness at ${api.url}/ready)`,
        '',
        'Send a demo campaign from another terminal:',
        `  ${cli} campaign create --name "Demo newsletter" --type newsletter --subject "Hello %recipient.name%" --text "Hi %recipient.name%!" --email-type newsletter`,
        `  ${cli} campaign send <campaignId> --wait`,
        `  ${cli} campaign show <campaignId>`,
        `  ${cli} campaign analytics <campaignId>     (opens, clicks, bounces from the webhooks)`,
        `  ${cli} suppressions list`,
        'the monthly financial run (each customer gets signed links to their reports for the month just closed):',
        `  ${cli} schedule financial apply && ${cli} schedule financial trigger`,
        'or over HTTP:',
        `  curl -s -X POST ${api.url}/campaigns -H 'x-api-key: ${given.API_KEYS ? '<key>' : apiKey}' -H 'content-type: application/json' \\`,
        `    -d '{"name": "API demo", "type": "newsletter", "audience": {"limit": 10}}'`,
        `  curl -s -X POST ${api.url}/campaigns/<campaignId>/generate-content -H 'x-api-key: ${given.API_KEYS ? '<key>' : apiKey}'`,
        '',
      ].join('\n'),
    );
    await worker.run();
  } finally {
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => logger.error({ err: error }, 'stop failed'));
  }
}

/** Seeds the demo users into an empty database; returns the report ids of all users, for demo report files. */
async function seedDemoUsers(databaseUrl: string): Promise<string[]> {
  const pool = createPool(databaseUrl, 1);
  try {
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    if (rows[0]?.n === 0) await seedUsers(pool, DEMO_USERS);
    const ids = await pool.query<{ custom_id: string }>('SELECT custom_id FROM users WHERE custom_id IS NOT NULL ORDER BY id');
    return ids.rows.map((r) => r.custom_id);
  } finally {
    await pool.end();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    // A missing Temporal CLI is a setup problem with a plain answer, not a crash: no stack trace.
    console.error(error instanceof TemporalCliUnavailableError ? error.message : error);
    process.exit(1);
  },
);
