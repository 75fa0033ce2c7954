import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import {
  REPORT_KINDS,
  listMonthReports,
  monthPrefix,
  reportExists,
  reportFilename,
  reportKey,
  type ListPageProgress,
  type ReportKind,
} from '../../activities/report-files.js';
import { startS3Standin } from '../../local-stack/s3.js';

const BUCKET = 'dn-reports';

function s3At(endpoint: string, maxAttempts?: number): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  });
}

/** A map as sorted [id, sorted kinds] pairs, for deepEqual. */
function entries(map: Map<string, Set<ReportKind>>): Array<[string, ReportKind[]]> {
  return [...map].map(([id, kinds]): [string, ReportKind[]] => [id, [...kinds].sort()]).sort(([a], [b]) => a.localeCompare(b));
}

describe('report file names', () => {
  test('kinds, keys and file names', () => {
    assert.deepEqual(REPORT_KINDS.youtube, { prefix: 'Exports', label: 'YouTube Report' });
    assert.deepEqual(REPORT_KINDS.streaming, { prefix: 'Distro', label: 'Streaming Report' });
    assert.equal(reportKey('youtube', 2025, 8, 'C123'), 'Exports/2025/08/C123/C123.zip');
    assert.equal(reportKey('streaming', 2025, 12, 'C123'), 'Distro/2025/12/C123/C123.zip');
    assert.equal(reportFilename('C123'), 'C123.zip');
    assert.throws(() => reportKey('youtube', 2025, 13, 'C1'), /month must be an integer 1-12/);
    assert.throws(() => reportKey('youtube', 2025.5, 1, 'C1'), /year must be an integer/);
    assert.throws(() => reportKey('youtube', 2025, 8, 'a/b'), /contain no "\/"/);
    assert.throws(() => reportKey('youtube', 2025, 8, ''), /non-empty/);
  });
});

describe('report files in S3 (s3rver)', () => {
  let stopS3rver: () => Promise<void>;
  let s3: S3Client;

  const both = ['A1', 'B2', 'a b+c', ...Array.from({ length: 8 }, (_, i) => `C${100 + i}`)];
  const youtubeOnly = ['Y1', 'Y2'];
  const streamingOnly = ['S1'];
  const noise = [
    'Exports/2025/08/X/other.csv',
    'Exports/2025/08/N0/notes.txt', // a customer folder without its report
    'Exports/2025/08/A1/B2.zip', // mismatched ids
    'Exports/2025/08/Z9/Z9.zip.bak',
    'Exports/2025/08/Q/Q/Q.zip', // one level too deep
    'Exports/2025/08/Q.zip', // one level too shallow
    'Distro/2025/08/S1/S1.ZIP',
    'Distro/2025/08/S1/',
    'Exports/2025/07/M7/M7.zip', // other month
    'Exports/2025/8/E8/E8.zip',
    'Exports/2025/080/E9/E9.zip',
    'Distro/2024/08/D4/D4.zip', // other year
    'Others/2025/08/O1/O1.zip', // other prefix
    'Exports2/2025/08/O2/O2.zip',
    'exports/2025/08/O3/O3.zip',
  ];
  /** Noise keys under the two month prefixes: listed, never counted. */
  const noiseInMonth = noise.filter((key) => key.startsWith('Exports/2025/08/') || key.startsWith('Distro/2025/08/')).length;
  const expected: Array<[string, ReportKind[]]> = [
    ...both.map((id): [string, ReportKind[]] => [id, ['streaming', 'youtube']]),
    ...youtubeOnly.map((id): [string, ReportKind[]] => [id, ['youtube']]),
    ...streamingOnly.map((id): [string, ReportKind[]] => [id, ['streaming']]),
  ].sort(([a], [b]) => a.localeCompare(b));

  before(async () => {
    const standin = await startS3Standin({ bucket: BUCKET });
    stopS3rver = () => standin.stop();
    s3 = s3At(standin.endpoint);
    const keys = [
      ...both.flatMap((id) => [reportKey('youtube', 2025, 8, id), reportKey('streaming', 2025, 8, id)]),
      ...youtubeOnly.map((id) => reportKey('youtube', 2025, 8, id)),
      ...streamingOnly.map((id) => reportKey('streaming', 2025, 8, id)),
      ...noise,
    ];
    await Promise.all(keys.map((Key) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'PK' }))));
  });

  after(async () => {
    s3.destroy();
    await stopS3rver();
  });

  test('lists the month in several pages into exactly who has which report', async () => {
    const progress: ListPageProgress[] = [];
    const found = await listMonthReports(s3, BUCKET, 2025, 8, { pageSize: 3, onPage: (page) => void progress.push(page) });
    assert.deepEqual(entries(found), expected);
    assert.ok(!found.has('N0') && !found.has('X') && !found.has('Q') && !found.has('M7') && !found.has('O1'));

    const pagesOf = (kind: ReportKind) => progress.filter((p) => p.kind === kind).length;
    assert.ok(pagesOf('youtube') >= 5, `youtube pages: ${pagesOf('youtube')}`);
    assert.ok(pagesOf('streaming') >= 4, `streaming pages: ${pagesOf('streaming')}`);
    assert.deepEqual(progress.map((p) => p.pages), progress.map((_, i) => i + 1));
    assert.ok(progress.every((p) => p.keys <= 3));
    assert.equal(progress.at(-1)?.customers, found.size);
    for (const kind of ['youtube', 'streaming'] as const) {
      const pages = progress.filter((p) => p.kind === kind);
      assert.deepEqual(pages.map((p) => p.last), pages.map((_, i) => i === pages.length - 1), `${kind}: only its final page is the last`);
      const lastKeys = pages.map((p) => p.lastKey ?? '');
      assert.deepEqual(lastKeys, [...lastKeys].sort(), `${kind}: each page ends further on`);
      assert.ok(lastKeys.every((key) => key.startsWith(monthPrefix(kind, 2025, 8))), `${kind}: last keys are under its month`);
    }
    assert.ok(progress.every((p) => p.found === found), 'every page sees the map being filled');
    // Every key under the two month prefixes was seen exactly once.
    assert.equal(progress.reduce((sum, p) => sum + p.keys, 0), both.length * 2 + youtubeOnly.length + streamingOnly.length + noiseInMonth);
  });

  test('the default page size gives the same answer, an async onPage is awaited', async () => {
    let pages = 0;
    const found = await listMonthReports(s3, BUCKET, 2025, 8, {
      onPage: async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        pages += 1;
      },
    });
    assert.deepEqual(entries(found), expected);
    assert.equal(pages, 2);
  });

  test('a month without reports is an empty map; the other month is its own', async () => {
    assert.equal((await listMonthReports(s3, BUCKET, 2025, 9)).size, 0);
    assert.deepEqual(entries(await listMonthReports(s3, BUCKET, 2025, 7)), [['M7', ['youtube']]]);
  });

  test('bad arguments and a missing bucket are errors', async () => {
    await assert.rejects(listMonthReports(s3, BUCKET, 2025, 8, { pageSize: 0 }), /pageSize must be an integer 1-1000/);
    await assert.rejects(listMonthReports(s3, 'no-such-bucket', 2025, 8), (err) => err instanceof S3ServiceException && err.name === 'NoSuchBucket');
  });

  test('reportExists answers by HeadObject', async () => {
    assert.equal(await reportExists(s3, BUCKET, reportKey('youtube', 2025, 8, 'A1')), true);
    assert.equal(await reportExists(s3, BUCKET, reportKey('streaming', 2025, 8, 'a b+c')), true);
    assert.equal(await reportExists(s3, BUCKET, reportKey('streaming', 2025, 8, 'Y1')), false);
    assert.equal(await reportExists(s3, BUCKET, reportKey('youtube', 2025, 8, 'N0')), false);
  });
});

describe('S3 errors other than 404 propagate', () => {
  let server: Server;
  let s3: S3Client;
  let requests = 0;

  before(async () => {
    server = createServer((req, res) => {
      requests += 1;
      req.resume();
      res.writeHead(500, { 'content-type': 'application/xml' });
      res.end(
        req.method === 'HEAD'
          ? undefined
          : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>',
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    s3 = s3At(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 1);
  });

  after(async () => {
    s3.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const is500 = (err: unknown) => err instanceof S3ServiceException && err.$metadata.httpStatusCode === 500;

  test('reportExists throws the 500', async () => {
    requests = 0;
    await assert.rejects(reportExists(s3, BUCKET, 'Exports/2025/08/A1/A1.zip'), is500);
    assert.equal(requests, 1);
  });

  test('listMonthReports throws the 500', async () => {
    requests = 0;
    await assert.rejects(listMonthReports(s3, BUCKET, 2025, 8), (err) => is500(err) && (err as S3ServiceException).name === 'InternalError');
    assert.equal(requests, 1);
  });
});
