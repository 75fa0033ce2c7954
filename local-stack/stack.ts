import { randomBytes } from 'node:crypto';
import { migrate } from '../db/migrate.js';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { startFirestoreEmulator, type FirestoreEmulator } from './firestore.js';
import { createMailgunServer, type MailgunServer } from './mailgun-server.js';
import { startMoto, type MotoServer } from './moto.js';
import { createOpenAIServer, type OpenAIServer } from './openai-server.js';
import { startS3Standin, type S3Standin } from './s3.js';
import { startPostgres, type PostgresStandin } from './postgres.js';
import { startTemporalDevServer, type TemporalDevServerOptions } from './temporal.js';
import { startTemporalCluster, type TemporalCluster, type TemporalClusterOptions } from './temporal-cluster.js';
import { registerSearchAttributes } from '../client/temporal.js';

/**
 * Every service the pipeline talks to, run for real on 127.0.0.1: a Temporal dev
 * server, PostgreSQL (migrated), the Firestore emulator, and the Mailgun- and
 * OpenAI-compatible servers. Used by the tests and the benchmarks.
 */

export const MAILGUN_TEST_DOMAIN = 'mg.test.example';
/** Where the local stack's unsubscribe links point (the API's default address), and the footer's demo postal address. */
export const LOCAL_PUBLIC_URL = 'http://127.0.0.1:3000';
export const LOCAL_POSTAL_ADDRESS = 'Distro Nation (local demo), 100 Example Street, Los Angeles, CA 90001, USA';

export interface LocalStackOptions {
  temporal?: TemporalDevServerOptions;
  /** Instead of the dev server, a self-hosted cluster: the server's four services as processes of their own on a PostgreSQL. */
  temporalCluster?: Omit<TemporalClusterOptions, 'prepare'>;
  postgres?: { port?: number; dataDir?: string; persistent?: boolean };
  firestorePort?: number;
  mailgunPort?: number;
  /** Skip the Mailgun stand-in (real Mailgun configured). */
  mailgun?: boolean;
  /** Also S3 (s3rver) and Secrets Manager (moto), for the financial run. */
  aws?: boolean;
}

/** The AWS stand-ins: S3 for the report files, Secrets Manager for the CloudFront key. */
export interface AwsStandins {
  s3: S3Standin;
  secrets: MotoServer;
}

export interface LocalStack {
  temporal: { address: string; namespace: string; stop(): Promise<void> };
  /** With `temporalCluster`: its services, to kill and start. */
  cluster: TemporalCluster | undefined;
  postgres: PostgresStandin;
  firestore: FirestoreEmulator;
  mailgun: MailgunServer | undefined;
  openai: OpenAIServer;
  aws: AwsStandins | undefined;
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
  const aws = options.aws ? await startAws() : undefined;
  const cluster = options.temporalCluster
    ? startTemporalCluster({ ...options.temporalCluster, prepare: async (client) => void (await registerSearchAttributes(client, client.options.namespace)) })
    : undefined;
  const started = await Promise.allSettled([
    cluster ??
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
    await stopAll([...running, mailgunStarted.status === 'fulfilled' ? mailgun : undefined, openai, aws?.s3, aws?.secrets]);
    throw failure?.reason ?? new Error('local stack failed to start');
  }

  const stop = () => stopAll([temporal.value, postgres.value, firestore.value, mailgun, openai, aws?.s3, aws?.secrets]);
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
    // Unsubscribe links point at an API the caller starts; the key is this stack's own.
    PUBLIC_URL: LOCAL_PUBLIC_URL,
    UNSUBSCRIBE_SECRET: randomBytes(32).toString('hex'),
    SENDER_POSTAL_ADDRESS: LOCAL_POSTAL_ADDRESS,
    ...(aws
      ? {
          AWS_REGION: aws.s3.region,
          // s3rver checks signatures with these; moto accepts any.
          AWS_ACCESS_KEY_ID: aws.s3.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: aws.s3.credentials.secretAccessKey,
          S3_ENDPOINT: aws.s3.endpoint,
          REPORTS_BUCKET: aws.s3.bucket,
          SECRETS_MANAGER_ENDPOINT: aws.secrets.endpoint,
        }
      : {}),
  };
  return {
    temporal: temporal.value,
    // Settled above.
    cluster: cluster ? await cluster : undefined,
    postgres: postgres.value,
    firestore: firestore.value,
    mailgun,
    openai,
    aws,
    env,
    stop,
  };
}

async function startAws(): Promise<AwsStandins> {
  const [s3, secrets] = await Promise.allSettled([startS3Standin(), startMoto()]);
  if (s3.status === 'fulfilled' && secrets.status === 'fulfilled') return { s3: s3.value, secrets: secrets.value };
  await stopAll([s3.status === 'fulfilled' ? s3.value : undefined, secrets.status === 'fulfilled' ? secrets.value : undefined]);
  throw (s3.status === 'rejected' ? s3.reason : (secrets as PromiseRejectedResult).reason) as Error;
}
