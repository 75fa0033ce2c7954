import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { freePort } from './ports.js';
import { replaceS3rverWalk } from './s3rver-walk.js';
import { reportKey, type ReportKind } from '../activities/report-files.js';

/**
 * An S3 stand-in: s3rver (npm) in this process on 127.0.0.1, speaking S3's REST protocol to the AWS SDK v3 client
 * with `forcePathStyle: true`. It checks request signatures against its one account, `S3RVER`/`S3RVER`.
 */

export interface S3StandinOptions {
  /** Default: a free port. */
  port?: number;
  /** Created on start (kept if it exists in `directory`). Default `dn-reports`. */
  bucket?: string;
  /** Where s3rver keeps buckets and objects, kept on stop (npm start's persistent data). Default: a temporary directory, removed on stop. */
  directory?: string;
}

export interface S3Standin {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  region: 'us-east-1';
  bucket: string;
  /** s3rver's files: `directory` if given, else the temporary directory removed on stop. */
  directory: string;
  /** The only credentials s3rver accepts: it verifies signatures. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** A new S3Client for this server (path-style addressing); `config` overrides any setting. */
  client(config?: S3ClientConfig): S3Client;
  /** Closes the server and its open connections; removes the temporary directory if it made one. */
  stop(): Promise<void>;
}

/** The parts of s3rver 3.7's API used here (it ships no types). */
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: Array<{ name: string }>;
}) => S3rverInstance;

const requireCjs = createRequire(import.meta.url);

/** The parts of a Koa context that s3rver's GET Bucket handler uses. */
interface ListContext {
  query: Record<string, string | string[] | undefined>;
  params: { bucket: string };
  body: unknown;
}
interface BucketController {
  getBucket: (ctx: ListContext) => Promise<void>;
  [patched]?: true;
}
type S3ErrorConstructor = new (code: string, message: string, detail?: Record<string, string>) => Error;
const patched = Symbol('dn-campaign-pipeline: ListObjectsV2 without DES');

/**
 * s3rver 3.7 makes ListObjectsV2 continuation tokens with DES, which Node 17+ (OpenSSL 3) refuses without
 * --openssl-legacy-provider: any truncated V2 listing (more keys than MaxKeys) is a 500 InternalError, and so is
 * every request with a ContinuationToken. Its router looks `getBucket` up on the controller module at each request,
 * so wrap it: a V2 listing runs as the equivalent V1 one (marker = start-after, or the key the token names) and its
 * result is reshaped into V2's, with a plain base64 token. Everything else reaches s3rver unchanged, after its
 * signature check (which reads the original query).
 */
function fixListObjectsV2(): void {
  const controller = requireCjs('s3rver/lib/controllers/bucket.js') as BucketController;
  if (controller[patched]) return;
  const S3Error = requireCjs('s3rver/lib/models/error.js') as S3ErrorConstructor;
  const getBucket = controller.getBucket;
  if (typeof getBucket !== 'function') throw new Error('s3rver internals changed: no controllers/bucket getBucket');
  const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
  controller.getBucket = async (ctx) => {
    const query = ctx.query;
    if (one(query['list-type']) !== '2' || 'marker' in query) return getBucket(ctx);
    const bucket = ctx.params.bucket;
    const token = one(query['continuation-token']);
    const startAfter = one(query['start-after']);
    const fetchOwner = one(query['fetch-owner']) === 'true';
    const rest = { ...query };
    for (const v2Only of ['list-type', 'continuation-token', 'start-after', 'fetch-owner']) delete rest[v2Only];
    let marker = startAfter;
    if (token) {
      const decoded = Buffer.from(token, 'base64').toString('utf8');
      const tokenPrefix = `${bucket}/`;
      if (!decoded.startsWith(tokenPrefix) || decoded.length === tokenPrefix.length) {
        throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
      }
      marker = decoded.slice(tokenPrefix.length);
    }
    ctx.query = { ...rest, ...(marker ? { marker } : {}) };
    try {
      await getBucket(ctx);
    } finally {
      ctx.query = query;
    }
    const { ListBucketResult: v1 } = ctx.body as {
      ListBucketResult: { Marker?: string; NextMarker?: string; IsTruncated: boolean; Contents: Array<{ Key: string; Owner?: unknown }> } & Record<string, unknown>;
    };
    const contents = v1.Contents;
    const last = contents.at(-1)?.Key;
    ctx.body = {
      ListBucketResult: {
        ...v1,
        Marker: undefined,
        NextMarker: undefined,
        StartAfter: token ? undefined : startAfter,
        ContinuationToken: token,
        NextContinuationToken: v1.IsTruncated && last !== undefined ? Buffer.from(`${bucket}/${last}`).toString('base64') : undefined,
        KeyCount: contents.length,
        Contents: fetchOwner ? contents : contents.map((object) => ({ ...object, Owner: undefined })),
      },
    };
  };
  controller[patched] = true;
}

const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Starts s3rver on 127.0.0.1 with the bucket created. */
export async function startS3Standin(opts: S3StandinOptions = {}): Promise<S3Standin> {
  // Loaded here, not at import: s3rver is a devDependency, and importing this module must not need it.
  replaceS3rverWalk();
  const S3rver = requireCjs('s3rver') as S3rverConstructor;
  fixListObjectsV2();
  const bucket = opts.bucket ?? 'dn-reports';
  const port = opts.port ?? (await freePort());
  const directory = opts.directory ?? (await mkdtemp(join(tmpdir(), 's3rver-')));
  const server = new S3rver({ address: '127.0.0.1', port, directory, silent: true, configureBuckets: [{ name: bucket }] });
  try {
    await server.run();
  } catch (err) {
    if (opts.directory === undefined) await rm(directory, { recursive: true, force: true });
    throw new Error(`s3rver could not start on 127.0.0.1:${port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'us-east-1';
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    region,
    bucket,
    directory,
    credentials: { ...S3RVER_CREDENTIALS },
    client: (config = {}) =>
      new S3Client({ endpoint, region, credentials: { ...S3RVER_CREDENTIALS }, forcePathStyle: true, ...config }),
    stop: () =>
      (stopping ??= (async () => {
        const closed = server.close();
        // Keep-alive connections from SDK clients would hold the server open, and answer requests, until they idle out.
        server.httpServer?.closeAllConnections();
        await closed;
        if (opts.directory === undefined) await rm(directory, { recursive: true, force: true });
      })()),
  };
}

/** The report kinds and their keys are the pipeline's own (activities/report-files.ts). */
export type ReportFileKind = ReportKind;

export interface ReportFilesSpec {
  year: number;
  /** 1-12 */
  month: number;
  files: Array<{ customId: string; kinds: ReportFileKind[] }>;
}

/** An empty zip archive (just its end-of-central-directory record): a few bytes that unzip accepts. */
const EMPTY_ZIP = Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]);

/** Writes one small zip object per customer and kind at the report keys (about 1.5 ms each on s3rver); returns the keys written. */
export async function putReportFiles(client: S3Client, bucket: string, spec: ReportFilesSpec): Promise<string[]> {
  const keys = spec.files.flatMap(({ customId, kinds }) => kinds.map((kind) => reportKey(kind, spec.year, spec.month, customId)));
  for (const key of keys) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: EMPTY_ZIP, ContentType: 'application/zip' }));
  }
  return keys;
}

/**
 * Which demo customers have which report files, decided by their position so every npm start shows the same mix:
 * of every four, the 1st has both reports, the 2nd only the YouTube one, the 3rd only the streaming one, the 4th none.
 */
export function demoReportFiles(customIds: readonly string[], year: number, month: number): ReportFilesSpec {
  const pattern: ReportFileKind[][] = [['youtube', 'streaming'], ['youtube'], ['streaming'], []];
  return {
    year,
    month,
    files: customIds
      .map((customId, i) => ({ customId, kinds: [...(pattern[i % pattern.length] ?? [])] }))
      .filter((file) => file.kinds.length > 0),
  };
}
