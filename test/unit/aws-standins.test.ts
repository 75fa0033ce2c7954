import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { findMoto } from '../../local-stack/install-moto.js';
import { MotoUnavailableError, startMoto, type MotoServer } from '../../local-stack/moto.js';
import { demoReportFiles, putReportFiles, startS3Standin, type S3Standin } from '../../local-stack/s3.js';

const execFileAsync = promisify(execFile);
const installScript = fileURLToPath(new URL('../../local-stack/install-moto.ts', import.meta.url));

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'aws-standins-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The server on `port` answers on 127.0.0.1 and not on another loopback address, as a 0.0.0.0 listener would.
 * Checked only where 127.0.0.2 works here (Linux routes all of 127/8 to lo; macOS does not).
 */
async function assertBindsLoopbackOnly(t: TestContext, port: number): Promise<void> {
  assert.equal(await accepts('127.0.0.1', port), true, `nothing listens on 127.0.0.1:${port}`);
  const control = createServer();
  const usable = await new Promise<boolean>((resolve) => {
    control.once('error', () => resolve(false));
    control.listen(0, '127.0.0.2', () => resolve(true));
  });
  if (!usable) {
    t.diagnostic('127.0.0.2 is not usable here: checked 127.0.0.1 only');
    return;
  }
  control.close();
  assert.equal(await accepts('127.0.0.2', port), false, `port ${port} also answers on 127.0.0.2: not bound to 127.0.0.1 only`);
}

function portOf(endpoint: string): number {
  return Number(new URL(endpoint).port);
}

/** Every key under `prefix`, read `maxKeys` at a time through ContinuationToken. */
async function listAll(client: S3Client, bucket: string, prefix: string, maxKeys: number): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: maxKeys, ContinuationToken: token }));
    pages += 1;
    assert.ok((page.Contents ?? []).length <= maxKeys, `page ${pages} has more than MaxKeys=${maxKeys} keys`);
    keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    assert.ok(!page.IsTruncated || token, 'a truncated page has a continuation token');
  } while (token);
  return { keys, pages };
}

/** What the financial run needs from S3, against either stand-in. */
async function checkS3Basics(client: S3Client, bucket: string): Promise<void> {
  const inMonth = ['A1', 'B2', 'C3', 'D4', 'E5'].map((id) => `Exports/2025/08/${id}/${id}.zip`);
  const others = ['Exports/2025/09/A1/A1.zip', 'Distro/2025/08/A1/A1.zip'];
  for (const key of [...others, ...inMonth]) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `zip of ${key}` }));
  }
  const listed = await listAll(client, bucket, 'Exports/2025/08/', 2);
  assert.deepEqual(listed.keys, inMonth, 'every key under the prefix, in order, once');
  assert.equal(listed.pages, 3);

  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: inMonth[0] }));
  assert.equal(head.ContentLength, `zip of ${inMonth[0]}`.length);
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: inMonth[1] }));
  assert.equal(await got.Body?.transformToString(), `zip of ${inMonth[1]}`);

  const missing = await rejection(client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'Exports/2025/08/ZZ/ZZ.zip' })));
  assert.ok(missing instanceof S3ServiceException, String(missing));
  assert.equal(missing.name, 'NotFound');
  assert.equal(missing.$metadata.httpStatusCode, 404);
}

/** After stop nothing answers: no connection, and an SDK request fails without an HTTP response. */
async function assertStopped(port: number, request: () => Promise<unknown>): Promise<void> {
  assert.equal(await accepts('127.0.0.1', port), false, `127.0.0.1:${port} still accepts connections`);
  const err = await rejection(request());
  assert.ok(err instanceof Error);
  assert.equal((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, undefined, `got an HTTP answer: ${String(err)}`);
}

describe('s3rver stand-in', () => {
  let s3: S3Standin;
  before(async () => {
    s3 = await startS3Standin({ bucket: 'reports-test' });
  });
  after(() => s3.stop());

  test('binds 127.0.0.1 only and serves the bucket it created', async (t) => {
    assert.match(s3.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(s3.region, 'us-east-1');
    assert.equal(s3.bucket, 'reports-test');
    await assertBindsLoopbackOnly(t, portOf(s3.endpoint));
  });

  test('PutObject, ListObjectsV2 by prefix in pages, HeadObject of a missing key is NotFound 404', async () => {
    await checkS3Basics(s3.client(), s3.bucket);
  });

  test("ListObjectsV2 past s3rver's DES continuation tokens (refused by OpenSSL 3): StartAfter, and a forged token is InvalidArgument", async () => {
    const client = s3.client();
    const keys = ['Distro/2024/02/P1/P1.zip', 'Distro/2024/02/P2/P2.zip', 'Distro/2024/02/P3/P3.zip'];
    for (const key of keys) await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: 'z' }));
    const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'Distro/2024/02/', StartAfter: keys[0], MaxKeys: 1 }));
    assert.deepEqual(
      [page.Contents?.map((o) => o.Key), page.KeyCount, page.IsTruncated, page.StartAfter, page.Contents?.[0]?.Owner],
      [[keys[1]], 1, true, keys[0], undefined],
    );
    const next = await client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'Distro/2024/02/', MaxKeys: 1, ContinuationToken: page.NextContinuationToken }),
    );
    assert.deepEqual([next.Contents?.map((o) => o.Key), next.IsTruncated, next.ContinuationToken], [[keys[2]], false, page.NextContinuationToken]);

    const forged = await rejection(client.send(new ListObjectsV2Command({ Bucket: s3.bucket, ContinuationToken: 'bm90LWEtdG9rZW4=' })));
    assert.ok(forged instanceof S3ServiceException, String(forged));
    assert.deepEqual([forged.name, forged.$metadata.httpStatusCode], ['InvalidArgument', 400]);
  });

  test('lists in S3 key order across pages, from StartAfter, and by delimiter (its directory walk is replaced)', async () => {
    const client = s3.client();
    const prefix = 'Exports/2030/01/';
    const ids = ['1', '10', '100', '2', '20', 'A', 'AB', 'B', 'a', 'b'];
    const keys = [...ids.map((id) => `${prefix}${id}/${id}.zip`), `${prefix}1/extra/x.zip`, `${prefix}AB/AB.zip.old`];
    const elsewhere = ['Exports/2030/02/1/1.zip', 'Exports/2030/0/1/1.zip', 'Distro/2030/01/1/1.zip', 'Exports/2030/01'];
    for (const key of [...keys, ...elsewhere]) await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: 'z' }));
    const inOrder = [...keys].sort();

    for (const maxKeys of [1, 3, 1000]) assert.deepEqual((await listAll(client, s3.bucket, prefix, maxKeys)).keys, inOrder, `pages of ${maxKeys}`);
    const from = inOrder[4] ?? '';
    const rest = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, StartAfter: from }));
    assert.deepEqual(rest.Contents?.map((o) => o.Key), inOrder.slice(5), `after ${from}`);
    const byCustomer = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, Delimiter: '/' }));
    assert.deepEqual(byCustomer.CommonPrefixes?.map((p) => p.Prefix), [...ids].sort().map((id) => `${prefix}${id}/`));
    assert.equal(byCustomer.Contents, undefined);
  });

  test('a month listed again after a key is added or removed shows the change, once its directory is kept as well', async () => {
    const client = s3.client();
    const prefix = 'Distro/2031/03/';
    const keyOf = (i: number) => `${prefix}C${String(i).padStart(5, '0')}/C${String(i).padStart(5, '0')}.zip`;
    const keys = Array.from({ length: 1_100 }, (_, i) => keyOf(i + 10));
    for (let start = 0; start < keys.length; start += 50) {
      await Promise.all(keys.slice(start, start + 50).map((Key) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: 'z' }))));
    }
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // quiet long enough to be kept
    for (let round = 0; round < 2; round++) assert.deepEqual((await listAll(client, s3.bucket, prefix, 1000)).keys, keys, `listing ${round + 1}`);

    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: keyOf(1), Body: 'z' }));
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: keyOf(500) }));
    const changed = [keyOf(1), ...keys.filter((key) => key !== keyOf(500))];
    assert.deepEqual((await listAll(client, s3.bucket, prefix, 1000)).keys, changed, 'the added key is listed, the removed one is not');
  });

  test('putReportFiles writes zip objects at the report keys', async () => {
    const client = s3.client();
    const written = await putReportFiles(client, s3.bucket, {
      year: 2026,
      month: 1,
      files: [
        { customId: 'DN100', kinds: ['youtube', 'streaming'] },
        { customId: 'DN200', kinds: ['streaming'] },
        { customId: 'DN300', kinds: [] },
      ],
    });
    const expected = ['Distro/2026/01/DN100/DN100.zip', 'Distro/2026/01/DN200/DN200.zip', 'Exports/2026/01/DN100/DN100.zip'];
    assert.deepEqual([...written].sort(), expected);
    const youtube = await listAll(client, s3.bucket, 'Exports/2026/', 1000);
    const streaming = await listAll(client, s3.bucket, 'Distro/2026/', 1000);
    assert.deepEqual([...streaming.keys, ...youtube.keys], expected);
    const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: expected[0] }));
    assert.equal(object.ContentType, 'application/zip');
    const bytes = await object.Body?.transformToByteArray();
    assert.equal(Buffer.from(bytes ?? []).subarray(0, 2).toString(), 'PK');
  });

  test('demoReportFiles: both, YouTube only, streaming only, none, by position, the same every time', () => {
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const spec = demoReportFiles(ids, 2025, 12);
    assert.deepEqual(spec, {
      year: 2025,
      month: 12,
      files: [
        { customId: 'c1', kinds: ['youtube', 'streaming'] },
        { customId: 'c2', kinds: ['youtube'] },
        { customId: 'c3', kinds: ['streaming'] },
        { customId: 'c5', kinds: ['youtube', 'streaming'] },
        { customId: 'c6', kinds: ['youtube'] },
      ],
    });
    assert.deepEqual(demoReportFiles(ids, 2025, 12), spec);
  });

  test('stop: the port is closed and the temporary directory is gone; a given directory keeps the data', async () => {
    const temporary = await startS3Standin();
    const client = temporary.client({ maxAttempts: 1 });
    await client.send(new PutObjectCommand({ Bucket: temporary.bucket, Key: 'k', Body: 'v' }));
    assert.ok(existsSync(temporary.directory));
    await temporary.stop();
    assert.equal(existsSync(temporary.directory), false);
    await assertStopped(portOf(temporary.endpoint), () => client.send(new HeadObjectCommand({ Bucket: temporary.bucket, Key: 'k' })));

    const directory = join(scratch, 's3rver-data');
    const first = await startS3Standin({ directory, bucket: 'kept' });
    await first.client().send(new PutObjectCommand({ Bucket: 'kept', Key: 'Exports/2025/08/X/X.zip', Body: 'x' }));
    await first.stop();
    const second = await startS3Standin({ directory, bucket: 'kept' });
    try {
      const head = await second.client().send(new HeadObjectCommand({ Bucket: 'kept', Key: 'Exports/2025/08/X/X.zip' }));
      assert.equal(head.ContentLength, 1);
    } finally {
      await second.stop();
    }
    assert.ok(existsSync(directory));
  });
});

describe('moto stand-in', () => {
  let moto: MotoServer;
  let startMs: number;
  before(async () => {
    const started = performance.now();
    moto = await startMoto();
    startMs = Math.round(performance.now() - started);
  });
  after(() => moto.stop());

  const s3Client = () => new S3Client({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials, forcePathStyle: true });
  const secrets = () => new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });

  test('starts, binds 127.0.0.1 only', async (t) => {
    t.diagnostic(`moto_server answered HTTP ${moto.startupMs} ms after spawn; startMoto() took ${startMs} ms`);
    assert.match(moto.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(moto.region, 'us-east-1');
    assert.deepEqual(moto.credentials, { accessKeyId: 'test', secretAccessKey: 'test' });
    await assertBindsLoopbackOnly(t, portOf(moto.endpoint));
  });

  test('S3: CreateBucket, PutObject, ListObjectsV2 by prefix in pages, HeadObject of a missing key is NotFound 404', async () => {
    const client = s3Client();
    await client.send(new CreateBucketCommand({ Bucket: 'reports-test' }));
    await checkS3Basics(client, 'reports-test');
  });

  test('Secrets Manager: CreateSecret and GetSecretValue round-trip; a missing secret is ResourceNotFoundException', async () => {
    const client = secrets();
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n';
    const created = await client.send(new CreateSecretCommand({ Name: 'cloudfront/private-key', SecretString: pem }));
    assert.match(created.ARN ?? '', /^arn:aws:secretsmanager:us-east-1:\d{12}:secret:cloudfront\/private-key-/);
    const value = await client.send(new GetSecretValueCommand({ SecretId: 'cloudfront/private-key' }));
    assert.equal(value.SecretString, pem);
    assert.equal(value.ARN, created.ARN);

    const missing = await rejection(client.send(new GetSecretValueCommand({ SecretId: 'no/such-secret' })));
    assert.ok(missing instanceof SecretsManagerServiceException, String(missing));
    assert.equal(missing.name, 'ResourceNotFoundException');
    // AWS answers 400; moto 5.2.5 answers 404. Classify by the name.
    assert.ok([400, 404].includes(missing.$metadata.httpStatusCode ?? 0), String(missing.$metadata.httpStatusCode));
  });

  test('stop kills moto_server: nothing answers afterwards', async () => {
    const other = await startMoto();
    const client = new SecretsManagerClient({ endpoint: other.endpoint, region: other.region, credentials: other.credentials, maxAttempts: 1 });
    await client.send(new CreateSecretCommand({ Name: 'k', SecretString: 'v' }));
    await other.stop();
    await assertStopped(portOf(other.endpoint), () => client.send(new GetSecretValueCommand({ SecretId: 'k' })));
    await other.stop(); // a second stop is a no-op
  });
});

describe('moto installation', () => {
  /** A pip prefix in Debian's layout holding a fake moto_server that runs `script`. */
  async function fakeDebianPrefix(name: string, script: string): Promise<string> {
    const prefix = join(scratch, name);
    await mkdir(join(prefix, 'local/lib/python3.11/dist-packages/moto-5.2.5.dist-info'), { recursive: true });
    const entryPoint = join(prefix, 'local/bin/moto_server');
    await mkdir(dirname(entryPoint), { recursive: true });
    await writeFile(entryPoint, `#!/bin/sh\n${script}\n`);
    await chmod(entryPoint, 0o755);
    return prefix;
  }

  test("findMoto finds the entry point and dist-packages of Debian's --prefix layout (pypa/pip#10978)", async () => {
    const prefix = await fakeDebianPrefix('debian', 'exit 0');
    const found = await findMoto(prefix);
    assert.deepEqual(found, {
      ok: true,
      entryPoint: join(prefix, 'local/bin/moto_server'),
      pythonPath: [join(prefix, 'local/lib/python3.11/dist-packages')],
      version: 'moto 5.2.5',
    });
    assert.deepEqual(await findMoto(join(scratch, 'nothing')), { ok: false, reason: `not installed in ${join(scratch, 'nothing')}` });
  });

  test('a moto_server that exits at once fails startMoto with its output, and PYTHONPATH is its dist-packages', async () => {
    const prefix = await fakeDebianPrefix('exits', 'echo "PYTHONPATH=$PYTHONPATH" >&2; echo "boom: cannot serve" >&2; exit 3');
    const err = await rejection(startMoto({ toolsDir: prefix, install: false }));
    assert.ok(err instanceof Error);
    assert.match(err.message, /moto_server exited \(code 3\) before answering HTTP/);
    assert.match(err.message, /boom: cannot serve/);
    assert.ok(err.message.includes(`PYTHONPATH=${join(prefix, 'local/lib/python3.11/dist-packages')}\n`), err.message);
  });

  test('not installed: the installer is tried once, then a MotoUnavailableError says what to run', async () => {
    const toolsDir = join(scratch, 'empty');
    const tried: string[] = [];
    const err = await rejection(
      startMoto({
        toolsDir,
        install: (dir) => {
          tried.push(dir);
          return Promise.reject(new Error('python3 not found (needed to run pip)'));
        },
      }),
    );
    assert.deepEqual(tried, [toolsDir]);
    assert.ok(err instanceof MotoUnavailableError, String(err));
    assert.match(err.message, /installing moto\[server\]==5\.2\.5 in .* failed: python3 not found/);
    assert.match(err.message, /npm run setup:moto/);

    const skipped = await rejection(startMoto({ toolsDir, install: false }));
    assert.ok(skipped instanceof MotoUnavailableError);
    assert.match(skipped.message, /^moto is not installed \(not installed in .*\)\. Run `npm run setup:moto`/);
  });

  test('setup script: postinstall failure is one warning line and exit 0, setup:moto exits 1, --omit=dev skips', async () => {
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      execFileAsync(process.execPath, ['--import', 'tsx', installScript, '--tools-dir', join(scratch, 'setup'), '--python', '/nonexistent/python3', ...args], {
        env: { PATH: process.env.PATH, ...env },
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const postinstall = await run(['--postinstall']);
    assert.equal(postinstall.code, 0);
    assert.match(postinstall.stderr, /^warning: could not install moto.*\(moto\[server\]==5\.2\.5 from PyPI\): \/nonexistent\/python3 not found .*npm run setup:moto.*\n$/);

    const explicit = await run([]);
    assert.equal(explicit.code, 1);
    assert.match(explicit.stderr, /^setup:moto: could not install moto.*: \/nonexistent\/python3 not found/);

    const omitted = await run(['--postinstall'], { npm_config_omit: 'dev' });
    assert.deepEqual([omitted.code, omitted.stderr], [0, '']);
    assert.match(omitted.stdout, /^moto: not installing the AWS stand-in, dev dependencies are omitted\n$/);
  });
});
