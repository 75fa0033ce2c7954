import { initializeApp, deleteApp, type App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { NativeConnection } from '@temporalio/worker';
import type { Pool } from 'pg';
import type { ActivityDeps } from '../activities/index.js';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createUrlSigner, loadSigningKey, type SigningKeySource, type UrlSigner } from '../activities/cloudfront.js';
import type { ReportsDeps } from '../activities/financial.js';
import { createMailgunAccount } from '../activities/mailgun.js';
import { createOpenAIWriter, DraftError, type ContentWriter } from '../activities/openai.js';
import { createPool } from '../db/pool.js';
import { createPipelineMetrics } from '../metrics/pipeline.js';
import { createRegistry } from '../metrics/registry.js';
import type { Registry } from 'prom-client';
import { brakeLimits, domainRate, requireSetting, sendingStreams, unsubscribeSettings, type Config } from './config.js';

export interface FirestoreHandle {
  firestore: Firestore;
  close(): Promise<void>;
}

let appCounter = 0;

/**
 * A Firestore client for the configured project. With FIRESTORE_EMULATOR_HOST it
 * talks to the emulator without credentials; otherwise it uses Application Default Credentials.
 */
export function connectFirestore(config: Pick<Config, 'FIRESTORE_PROJECT_ID' | 'FIRESTORE_EMULATOR_HOST'>): FirestoreHandle {
  const app: App = initializeApp({ projectId: config.FIRESTORE_PROJECT_ID }, `campaigns-${process.pid}-${++appCounter}`);
  const firestore = getFirestore(app);
  if (config.FIRESTORE_EMULATOR_HOST) {
    firestore.settings({ host: config.FIRESTORE_EMULATOR_HOST, ssl: false, ignoreUndefinedProperties: true });
  } else {
    firestore.settings({ ignoreUndefinedProperties: true });
  }
  return { firestore, close: () => deleteApp(app) };
}

export function databaseUrl(config: Config): string {
  return requireSetting(config, 'DATABASE_URL');
}

export async function connectTemporal(config: Config): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: config.TEMPORAL_ADDRESS,
    ...(config.TEMPORAL_TLS || config.TEMPORAL_API_KEY ? { tls: true } : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  });
}

export interface WorkerResources {
  deps: ActivityDeps;
  close(): Promise<void>;
}

/** OpenAI when OPENAI_API_KEY is set; otherwise a writer that says so whenever content is asked for. */
function contentWriter(config: Config): ContentWriter {
  if (config.OPENAI_API_KEY) {
    return createOpenAIWriter({ apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL, timeoutMs: config.OPENAI_TIMEOUT_MS });
  }
  return {
    draft: () =>
      Promise.reject(
        new DraftError({
          kind: 'rejected',
          message: 'content generation is not configured: set OPENAI_API_KEY (npm start runs a local OpenAI-compatible server when it is unset)',
        }),
      ),
  };
}

/** AWS client settings: the region, an endpoint for a compatible service, and explicit keys when given. */
function awsClientConfig(config: Config, endpoint: string | undefined) {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = config;
  return {
    region: config.AWS_REGION,
    ...(endpoint ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
  };
}

/** Where the CloudFront key comes from: Secrets Manager, or (only when explicitly in development) two variables. */
function signingKeySource(config: Config): SigningKeySource {
  if (config.CLOUDFRONT_KEY_SOURCE === 'secrets-manager') {
    const client = new SecretsManagerClient(awsClientConfig(config, config.SECRETS_MANAGER_ENDPOINT));
    return { kind: 'secrets-manager', client, secretId: config.CLOUDFRONT_KEY_SECRET_ID };
  }
  const keyPairId = requireSetting(config, 'CLOUDFRONT_KEY_PAIR_ID');
  const privateKeyPem = requireSetting(config, 'CLOUDFRONT_PRIVATE_KEY');
  return { kind: 'development', keyPairId, privateKeyPem };
}

export function openReports(config: Config): ReportsDeps {
  const s3 = new S3Client({ ...awsClientConfig(config, config.S3_ENDPOINT), forcePathStyle: config.S3_ENDPOINT !== undefined });
  const source = signingKeySource(config);
  let signer: Promise<UrlSigner> | undefined;
  return {
    s3,
    bucket: config.REPORTS_BUCKET,
    signer() {
      // Loaded once per worker and kept as a parsed key; a failed load is tried again next time.
      signer ??= loadSigningKey(source).then((key) => createUrlSigner({ baseUrl: config.CLOUDFRONT_URL, key }));
      signer.catch(() => (signer = undefined));
      return signer;
    },
  };
}

/** Builds the activities' clients from configuration; the same code runs against real services and local stand-ins. */
/** `registry`: the process's Prometheus registry the pipeline's figures go on (default: one of their own). */
export function openActivityDeps(config: Config, registry: Registry = createRegistry()): WorkerResources {
  const pool: Pool = createPool(databaseUrl(config), config.DATABASE_POOL_SIZE);
  const firestore = connectFirestore(config);
  const mailgun = createMailgunAccount({
    apiKey: requireSetting(config, 'MAILGUN_API_KEY'),
    url: config.MAILGUN_URL,
    timeoutMs: config.MAILGUN_TIMEOUT_MS,
    lookup: config.MAILGUN_OUTCOME_LOOKUP,
  });
  const reports = openReports(config);
  return {
    deps: {
      pool,
      mailgun,
      firestore: firestore.firestore,
      contentWriter: contentWriter(config),
      ai: { model: config.OPENAI_MODEL },
      reports,
      metrics: createPipelineMetrics(registry),
      mail: {
        streams: sendingStreams(config),
        previewDomains: config.PREVIEW_ALLOWED_DOMAINS,
        requestTimeoutMs: config.MAILGUN_TIMEOUT_MS,
        eventsSettleMs: config.MAILGUN_EVENTS_SETTLE_MS,
        outcomeMaxWaitMs: config.MAILGUN_OUTCOME_MAX_WAIT_MS,
        probeRecipient: config.MAILGUN_PROBE_RECIPIENT ?? `outcome-probe@${config.MAILGUN_DOMAIN}`,
        rateLimitBackoffMs: config.MAILGUN_RATE_LIMIT_BACKOFF_MS,
        rateOf: (domain) => domainRate(config, domain),
        unsubscribe: unsubscribeSettings(config),
        brake: brakeLimits(config),
        trackOpens: config.TRACK_OPENS_STREAMS,
      },
    },
    async close() {
      reports.s3.destroy();
      await Promise.allSettled([pool.end(), firestore.close()]);
    },
  };
}
