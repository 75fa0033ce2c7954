import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createUrlSigner } from '../../activities/cloudfront.js';
import { generateSigningKeyPair, startLocalCloudFront, type LocalCloudFront } from '../../local-stack/cloudfront.js';
import { putReportFiles, startS3Standin, type S3Standin } from '../../local-stack/s3.js';

/** npm start's CloudFront: signed links download the file; anything else is refused, as CloudFront does. */

let s3: S3Standin;
let cloudFront: LocalCloudFront;
const pair = generateSigningKeyPair();

before(async () => {
  s3 = await startS3Standin();
  const client = s3.client();
  await putReportFiles(client, s3.bucket, { year: 2026, month: 10, files: [
      { customId: 'DN0000001', kinds: ['youtube', 'streaming'] },
      { customId: 'DN0000002', kinds: ['youtube', 'streaming'] },
      { customId: 'DN00000012', kinds: ['youtube'] },
    ],
  });
  cloudFront = await startLocalCloudFront({ s3: client, bucket: s3.bucket, publicKey: pair.publicKey });
});

after(async () => {
  await cloudFront?.stop();
  await s3?.stop();
});

const signerOf = () => createUrlSigner({ baseUrl: cloudFront.url, key: { keyPairId: pair.keyPairId, privateKey: createPrivateKey(pair.privateKeyPem) } });

test('a signed link downloads the file; a tampered, expired or unsigned one is refused; a missing object is 404', async () => {
  const signer = signerOf();
  const { url } = await signer.sign('Exports/2026/10/DN0000001/DN0000001.zip', new Date());
  const ok = await fetch(url);
  assert.equal(ok.status, 200);
  assert.equal((await ok.arrayBuffer()).byteLength, 22, 'the small zip putReportFiles wrote');

  assert.equal((await fetch(url.replace('DN0000001.zip', 'DN0000002.zip'))).status, 403, 'signed for another object');
  assert.equal((await fetch(url.split('?')[0] ?? '')).status, 403, 'unsigned');
  const expired = (await signer.sign('Exports/2026/10/DN0000001/DN0000001.zip', new Date(Date.now() - 26 * 86_400_000))).url;
  assert.equal((await fetch(expired)).status, 403, 'expired');
  assert.equal((await fetch((await signer.sign('Exports/2026/10/NOBODY/NOBODY.zip', new Date())).url)).status, 404);
});

test("a customer's month link opens both of their reports and no one else's file", async () => {
  const keys = ['Exports/2026/10/DN0000001/DN0000001.zip', 'Distro/2026/10/DN0000001/DN0000001.zip'];
  const month = await signerOf().signPattern('*/2026/10/DN0000001/DN0000001.zip', new Date());
  const urls = keys.map((key) => month.urlFor(key));
  for (const { url } of urls) assert.equal((await fetch(url)).status, 200, url);
  const query = urls[0]?.url.slice(urls[0].url.indexOf('?')) ?? assert.fail('signed');
  for (const other of ['Exports/2026/10/DN0000002/DN0000002.zip', 'Distro/2026/10/DN0000002/DN0000002.zip', 'Exports/2026/10/DN00000012/DN00000012.zip']) {
    assert.equal((await fetch(`${cloudFront.url}/${other}${query}`)).status, 403, other);
  }
});
