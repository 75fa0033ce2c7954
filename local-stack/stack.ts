import { migrate } from '../db/migrate.js';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { startFirestoreEmulator, type FirestoreEmulator } from './firestore.js';
import { createMailgunServer, type MailgunServer } from './mailgun-server.js';
import { createOpenAIServer, type OpenAIServer } from './openai-server.js';
import { startPostgres, type PostgresStandin } from './postgres.js';
import { startTemporalDevServer, type TemporalDevServer, type TemporalDevServerOptions } from './temporal.js';

/**
 * Every service the pipeline talks to, run for real on 127.0.0.1: a Temporal dev
 * server, PostgreSQL (migrated), the Firestore emulator, and the Mailgun- and
 * OpenAI-compatible servers. Used by the tests and the benchmarks.
 */

export const MAILGUN_TEST_DOMAIN = 'mg.test.example';

export interface LocalStackOptions {
  temporal?: TemporalDevServerOptions;
  postgres?: { port?: number; dataDir?: string; persistent?: boolean };
  firestorePort?: number;
  mailgunPort?: number;
  /** Skip the Mailgun stand-in (real Mailgun configured). */
  mailgun?: boolean;
}

export interface LocalStack {
  temporal: TemporalDevServer;
  postgres: PostgresStandin;
  firestore: FirestoreEmulator;
  mailgun: MailgunServer | undefined;
  openai: OpenAIServer;
  /** Environment a worker or CLI process needs to use this stack. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

type Stoppable = { stop(): Promise<void> };

async function stopAll(services: Array<Stoppable | undefined>): Promise<void> {
  await Promise.allSettled(services.map((service) => service?.stop() ?? Promise.resolve()));
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const mailgun = options.mailgun === false ? undefined : createMailgunServer({ port: options.mailgunPort ?? 0 });
  const openai = createOpenAIServer();
  const started = await Promise.allSettled([
    startTemporalDevServer({
      ...options.temporal,
      searchAttributes: CAMPAIGN_SEARCH_ATTRIBUTES.map((attr) => ({ name: attr.name, type: attr.type })),
    }),
    startPostgres(options.postgres ?? {}),
    startFirestoreEmulator({ ...(options.firestorePort === undefined ? {} : { port: options.firestorePort }) }),
    mailgun?.start(),
    openai.start(),
  ]);
  const [temporal, postgres, firestore, mailgunStarted] = started;
  const running = [temporal, postgres, firestore].map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure || temporal.status !== 'fulfilled' || postgres.status !== 'fulfilled' || firestore.status !== 'fulfilled') {
    await stopAll([...running, mailgunStarted.status === 'fulfilled' ? mailgun : undefined, openai]);
    throw failure?.reason ?? new Error('local stack failed to start');
  }

  const stop = () => stopAll([temporal.value, postgres.value, firestore.value, mailgun, openai]);
  try {
    await migrate(postgres.value.url);
  } catch (error) {
    await stop();
    throw error;
  }

  const env: Record<string, string> = {
    TEMPORAL_ADDRESS: temporal.value.address,
    TEMPORAL_NAMESPACE: temporal.value.namespace,
    DATABASE_URL: postgres.value.url,
    FIRESTORE_EMULATOR_HOST: firestore.value.host,
    FIRESTORE_PROJECT_ID: firestore.value.projectId,
    ...(mailgun
      ? { MAILGUN_URL: mailgun.url, MAILGUN_API_KEY: mailgun.apiKey, MAILGUN_DOMAIN: MAILGUN_TEST_DOMAIN }
      : {}),
    OPENAI_API_KEY: openai.apiKey,
    OPENAI_BASE_URL: `${openai.url}/v1`,
  };
  return {
    temporal: temporal.value,
    postgres: postgres.value,
    firestore: firestore.value,
    mailgun,
    openai,
    env,
    stop,
  };
}
