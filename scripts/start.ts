/**
 * `npm start`: a working pipeline on one machine. Whatever is not configured in
 * the environment runs locally — a Temporal dev server with its UI, an embedded
 * PostgreSQL (migrated, with demo users), the Firestore emulator, and a
 * Mailgun-compatible sink — then the worker starts. With real settings in the
 * environment (TEMPORAL_ADDRESS, DATABASE_URL, MAILGUN_API_KEY, Firestore
 * credentials) the same command runs the worker against the real services.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Runtime } from '@temporalio/worker';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { LOCAL_DATABASE_URL, loadConfigOrExit } from '../worker/config.js';
import { connectTemporal, openActivityDeps } from '../worker/connections.js';
import { createLogger, temporalLogger } from '../worker/logger.js';
import { createWorker } from '../worker/worker.js';
import { startFirestoreEmulator } from '../local-stack/firestore.js';
import { createMailgunServer } from '../local-stack/mailgun-server.js';
import { startPostgres } from '../local-stack/postgres.js';
import { seedUsers } from '../local-stack/seed.js';
import { startTemporalDevServer, TemporalCliUnavailableError } from '../local-stack/temporal.js';

const dataDir = fileURLToPath(new URL('../.data', import.meta.url));
const LOCAL = { temporalPort: 7233, uiPort: 8233, postgresPort: 55432, firestorePort: 8686, mailgunPort: 9025 };
const DEMO_USERS = 1000;

type Stop = () => Promise<void>;

async function main(): Promise<void> {
  const given = process.env;
  const logger = createLogger(loadConfigOrExit().LOG_LEVEL, 'start');
  Runtime.install({ logger: temporalLogger(logger), shutdownSignals: ['SIGINT', 'SIGTERM'] });
  mkdirSync(dataDir, { recursive: true });
  const stops: Stop[] = [];
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
    if (!given.MAILGUN_API_KEY) {
      const sink = createMailgunServer({ port: LOCAL.mailgunPort });
      await sink.start();
      stops.push(() => sink.stop());
      Object.assign(local, { MAILGUN_API_KEY: sink.apiKey, MAILGUN_URL: sink.url });
      notes.push(`Mailgun:          local sink at ${sink.url} (no MAILGUN_API_KEY set; nothing leaves this machine)`);
    }

    const config = loadConfigOrExit({ ...given, ...local });
    await migrate(config.DATABASE_URL);
    await seedDemoUsers(config.DATABASE_URL);

    const resources = openActivityDeps(config);
    stops.push(() => resources.close());
    const connection = await connectTemporal(config);
    stops.push(() => connection.close());
    const worker = await createWorker(connection, config, resources.deps);

    const cli = local.DATABASE_URL && local.DATABASE_URL !== LOCAL_DATABASE_URL ? `DATABASE_URL=${local.DATABASE_URL} npx dn-campaigns` : 'npx dn-campaigns';
    console.log(
      [
        '',
        'Campaign pipeline is running. Ctrl-C stops it.',
        ...notes.map((n) => `  ${n}`),
        `  Worker:           task queue "${config.TEMPORAL_TASK_QUEUE}" on ${config.TEMPORAL_ADDRESS}`,
        '',
        'Send a demo campaign from another terminal:',
        `  ${cli} campaign create --name "Demo newsletter" --type newsletter --subject "Hello %recipient.name%" --text "Hi %recipient.name%!" --email-type newsletter`,
        `  ${cli} campaign send <campaignId> --wait`,
        `  ${cli} campaign show <campaignId>`,
        '',
      ].join('\n'),
    );
    await worker.run();
  } finally {
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => logger.error({ err: error }, 'stop failed'));
  }
}

async function seedDemoUsers(databaseUrl: string): Promise<void> {
  const pool = createPool(databaseUrl, 1);
  try {
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    if (rows[0]?.n === 0) await seedUsers(pool, DEMO_USERS);
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
