import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportExists, reportKey } from '../activities/report-files.js';
import type { ReportPeriod } from '../common/financial.js';
import { generateSigningKeyPair, LOCAL_KEY_PAIR_ID, startLocalCloudFront } from './cloudfront.js';
import { demoReportFiles, putReportFiles, startS3Standin } from './s3.js';

/**
 * The financial run's side of the local stack: S3 (s3rver) holding demo report
 * files for the demo customers, a development CloudFront key pair (kept in the
 * data directory, so links stay valid across restarts), and a local
 * CloudFront that serves those files through signed links only — so a
 * newcomer can trigger a financial run and open the links in its emails.
 */

export interface LocalReports {
  /** Settings for the worker: where the files are, and how links are signed (explicitly development mode). */
  env: Record<string, string>;
  notes: string[];
  stop(): Promise<void>;
}

export interface LocalReportsOptions {
  directory: string;
  s3Port: number;
  cloudFrontPort: number;
  /** The demo customers' report ids. */
  customIds: readonly string[];
  /** Months that get demo files (the month just closed, typically). */
  periods: readonly ReportPeriod[];
}

export async function startLocalReports(options: LocalReportsOptions): Promise<LocalReports> {
  mkdirSync(options.directory, { recursive: true });
  const key = developmentKey(join(options.directory, 'cloudfront-dev-key.pem'));
  const s3 = await startS3Standin({ port: options.s3Port, directory: join(options.directory, 's3') });
  const client = s3.client();
  try {
    for (const period of options.periods) {
      const spec = demoReportFiles(options.customIds, period.year, period.month);
      const first = spec.files[0];
      if (first?.kinds[0] && !(await reportExists(client, s3.bucket, reportKey(first.kinds[0], period.year, period.month, first.customId)))) {
        await putReportFiles(client, s3.bucket, spec);
      }
    }
    const cloudFront = await startLocalCloudFront({ s3: client, bucket: s3.bucket, publicKey: key.publicKey, port: options.cloudFrontPort });
    return {
      env: {
        S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        REPORTS_BUCKET: s3.bucket,
        CLOUDFRONT_URL: cloudFront.url,
        CLOUDFRONT_KEY_SOURCE: 'development',
        CLOUDFRONT_KEY_PAIR_ID: key.keyPairId,
        CLOUDFRONT_PRIVATE_KEY: key.privateKeyPem,
      },
      notes: [
        `Reports (S3):     local s3rver at ${s3.endpoint}, bucket ${s3.bucket}, demo files for ${options.periods.length} month(s)`,
        `CloudFront:       local, serving signed links only, at ${cloudFront.url} (development key pair)`,
      ],
      async stop() {
        await cloudFront.stop();
        client.destroy();
        await s3.stop();
      },
    };
  } catch (error) {
    client.destroy();
    await s3.stop();
    throw error;
  }
}

/** The development key pair, made once and kept beside the local data. */
function developmentKey(path: string) {
  if (!existsSync(path)) writeFileSync(path, generateSigningKeyPair().privateKeyPem, { mode: 0o600 });
  const privateKeyPem = readFileSync(path, 'utf8');
  return { keyPairId: LOCAL_KEY_PAIR_ID, privateKeyPem, publicKey: createPublicKey(createPrivateKey(privateKeyPem)) };
}
