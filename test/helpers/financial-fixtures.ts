import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { reportKey, type ReportKind } from '../../activities/report-files.js';
import type { ReportPeriod } from '../../common/financial.js';
import type { SeedProfile } from '../../local-stack/seed.js';
import type { Harness } from './harness.js';

/** A month of report files and a signing key for the financial run, as the benchmarks and the soak set them up. */

/** Of every ten customers: eight with both files, one with the YouTube report only, one with none. */
export function kindsOf(index: number): ReportKind[] {
  const slot = index % 10;
  return slot < 8 ? ['youtube', 'streaming'] : slot === 8 ? ['youtube'] : [];
}

/** The month's report keys of the seeded customers, as kindsOf spreads them. */
export function reportKeys(profiles: SeedProfile[], period: ReportPeriod): string[] {
  return profiles.flatMap((p, i) => kindsOf(i).map((kind) => reportKey(kind, period.year, period.month, p.customId)));
}

export async function putFiles(s3: S3Client, bucket: string, profiles: SeedProfile[], period: ReportPeriod): Promise<number> {
  const keys = reportKeys(profiles, period);
  for (let start = 0; start < keys.length; start += 64) {
    await Promise.all(
      keys.slice(start, start + 64).map((Key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'PK' }))),
    );
  }
  return keys.length;
}

/** Stores a new signing key where the worker loads it from; returns its private half, for baselines. */
export async function storeSigningKey(h: Harness): Promise<KeyObject> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secrets = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: h.env['SECRETS_MANAGER_ENDPOINT'],
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await secrets.send(
    new CreateSecretCommand({
      Name: h.config.CLOUDFRONT_KEY_SECRET_ID,
      SecretString: JSON.stringify({ keyPairId: 'KBENCHKEYPAIR', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) }),
    }),
  );
  secrets.destroy();
  return privateKey;
}

