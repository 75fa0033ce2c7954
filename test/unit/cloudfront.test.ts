import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { SecretsManagerClient, type GetSecretValueCommand, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import {
  DEFAULT_LINK_VALIDITY_MS,
  createUrlSigner,
  loadSigningKey,
  objectUrl,
  verifySignedUrl,
  type CloudFrontSigningKey,
  type SecretValueReader,
} from '../../activities/cloudfront.js';

const DOMAIN = 'd111111abcdef8.cloudfront.net';
const BASE_URL = `https://${DOMAIN}`;
const KEY_PAIR_ID = 'K2JCJMDEHXQW5F';
const DAY_MS = 24 * 60 * 60 * 1000;

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const PKCS1_PEM = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
/** Lines of the key's body: none may ever appear in an error. */
const KEY_BODY_LINES = PEM.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));

/** A Secrets Manager stand-in that answers GetSecretValue with `secret` and remembers what was asked. */
function fakeSecrets(secret: Partial<GetSecretValueCommandOutput>): SecretValueReader & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    send(command: GetSecretValueCommand) {
      asked.push(command.input.SecretId ?? '');
      return Promise.resolve({ $metadata: {}, ...secret });
    },
  };
}

async function loadError(load: Promise<unknown>): Promise<Error> {
  try {
    await load;
  } catch (err) {
    assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
    const shown = inspect(err);
    for (const line of KEY_BODY_LINES) assert.ok(!shown.includes(line), `the error shows key material: ${err.message}`);
    return err;
  }
  assert.fail('expected loading the key to fail');
}

function keyOf(url: string): string {
  return new URL(url).pathname.slice(1).split('/').map(decodeURIComponent).join('/');
}

describe('loadSigningKey', () => {
  test('a development source gives a parsed RSA key, PKCS#8 or PKCS#1, with \\n-escaped newlines accepted', async () => {
    for (const pem of [PEM, PKCS1_PEM, PEM.replaceAll('\n', '\\n')]) {
      const key = await loadSigningKey({ kind: 'development', keyPairId: KEY_PAIR_ID, privateKeyPem: pem });
      assert.equal(key.keyPairId, KEY_PAIR_ID);
      assert.equal(key.privateKey.type, 'private');
      assert.equal(key.privateKey.asymmetricKeyType, 'rsa');
      assert.ok(!inspect(key).includes(KEY_BODY_LINES[1] ?? '-'), 'inspecting the key shows nothing of it');
      assert.equal(JSON.stringify(key.privateKey), '{}');
    }
  });

  test('a Secrets Manager source reads {keyPairId, privateKey} JSON from SecretString', async () => {
    const secrets = fakeSecrets({ SecretString: JSON.stringify({ keyPairId: KEY_PAIR_ID, privateKey: PEM }) });
    const key = await loadSigningKey({ kind: 'secrets-manager', client: secrets, secretId: 'campaigns/cloudfront' });
    assert.deepEqual(secrets.asked, ['campaigns/cloudfront']);
    assert.equal(key.keyPairId, KEY_PAIR_ID);
    assert.equal(key.privateKey.asymmetricKeyType, 'rsa');
  });

  test('the real SecretsManagerClient fits the source type', () => {
    const client = new SecretsManagerClient({ region: 'us-east-1' });
    const reader: SecretValueReader = client; // a compile-time check; nothing is sent
    assert.ok(reader);
    client.destroy();
  });

  test('errors from Secrets Manager itself propagate unchanged', async () => {
    const denied = Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' });
    const client: SecretValueReader = { send: () => Promise.reject(denied) };
    await assert.rejects(loadSigningKey({ kind: 'secrets-manager', client, secretId: 's' }), (err) => err === denied);
  });

  const { privateKey: ecKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const encrypted = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
  const garbled = PEM.replace(/[A-Za-z]{8}/, '!!!!!!!!');
  const malformed: Array<[string, Partial<GetSecretValueCommandOutput>, RegExp]> = [
    ['the raw PEM instead of JSON', { SecretString: PEM }, /is not JSON; expected \{"keyPairId"/],
    ['no SecretString', { SecretBinary: new Uint8Array([1, 2]) }, /has no SecretString/],
    ['a JSON array', { SecretString: JSON.stringify([KEY_PAIR_ID, PEM]) }, /is not a JSON object/],
    ['no privateKey', { SecretString: JSON.stringify({ keyPairId: KEY_PAIR_ID, key: PEM }) }, /lacks string field\(s\): privateKey$/],
    ['nothing useful', { SecretString: JSON.stringify({ KeyPairId: KEY_PAIR_ID, privateKey: 42 }) }, /lacks string field\(s\): keyPairId, privateKey$/],
    ['a bad keyPairId', { SecretString: JSON.stringify({ keyPairId: 'K2 X', privateKey: PEM }) }, /keyPairId must be letters and digits/],
    ['not a PEM', { SecretString: JSON.stringify({ keyPairId: KEY_PAIR_ID, privateKey: KEY_BODY_LINES.join('') }) }, /privateKey is not a PEM private key/],
    ['a garbled PEM', { SecretString: JSON.stringify({ keyPairId: KEY_PAIR_ID, privateKey: garbled }) }, /could not be parsed as an unencrypted PEM/],
    ['an encrypted PEM', { SecretString: JSON.stringify({ keyPairId: KEY_PAIR_ID, privateKey: encrypted }) }, /could not be parsed as an unencrypted PEM/],
    [
      'an EC key',
      { SecretString: JSON.stringify({ keyPairId: KEY_PAIR_ID, privateKey: ecKey.export({ type: 'pkcs8', format: 'pem' }).toString() }) },
      /privateKey is a ec key; CloudFront canned-policy URLs need RSA/,
    ],
  ];
  for (const [what, secret, message] of malformed) {
    test(`a secret with ${what} fails clearly, without key material`, async () => {
      const err = await loadError(loadSigningKey({ kind: 'secrets-manager', client: fakeSecrets(secret), secretId: 'cf-key' }));
      assert.match(err.message, /^CloudFront signing secret "cf-key"/);
      assert.match(err.message, message);
      assert.equal(err.cause, undefined);
    });
  }

  test('a malformed development key fails clearly, without key material', async () => {
    const err = await loadError(loadSigningKey({ kind: 'development', keyPairId: KEY_PAIR_ID, privateKeyPem: garbled }));
    assert.match(err.message, /^development CloudFront signing key: privateKey could not be parsed/);
  });
});

describe('createUrlSigner / verifySignedUrl', () => {
  const key: CloudFrontSigningKey = { keyPairId: KEY_PAIR_ID, privateKey };
  const signer = createUrlSigner({ baseUrl: BASE_URL, key });
  const now = new Date('2025-09-01T07:00:00Z');
  const objectKeys = ['Exports/2025/08/C1/C1.zip', 'Distro/2025/08/a b+c/a b+c.zip', 'Exports/2025/08/ü&?#%=/ü&?#%=.zip'];

  test('every URL verifies, points at its object and expires exactly 25 days after now', () => {
    for (const objectKey of objectKeys) {
      const { url, expiresAt } = signer.sign(objectKey, now);
      const check = verifySignedUrl(url, publicKey);
      assert.equal(check.valid, true, url);
      assert.equal(check.keyPairId, KEY_PAIR_ID);
      assert.equal(check.resource, objectUrl(BASE_URL, objectKey));
      assert.equal(keyOf(url), objectKey);
      assert.equal(new URL(url).host, DOMAIN);
      assert.equal(expiresAt.getTime() - now.getTime(), 25 * DAY_MS);
      assert.equal(check.expiresAt.getTime(), expiresAt.getTime());
      assert.equal(new URL(url).searchParams.get('Expires'), String(expiresAt.getTime() / 1000));
    }
    assert.equal(DEFAULT_LINK_VALIDITY_MS, 25 * DAY_MS);
  });

  test('path segments are percent-encoded, slashes kept', () => {
    assert.equal(
      objectUrl(BASE_URL, 'Distro/2025/08/a b+c/a b+c.zip'),
      `https://${DOMAIN}/Distro/2025/08/a%20b%2Bc/a%20b%2Bc.zip`,
    );
    assert.match(signer.sign('Exports/2025/08/ü&?#%=/ü&?#%=.zip', now).url, /\/%C3%BC%26%3F%23%25%3D\/%C3%BC%26%3F%23%25%3D\.zip\?Expires=/);
  });

  test('URLs are byte-identical to @aws-sdk/cloudfront-signer getSignedUrl with the PEM', () => {
    for (const objectKey of objectKeys) {
      const { url, expiresAt } = signer.sign(objectKey, now);
      const theirs = getSignedUrl({ url: objectUrl(BASE_URL, objectKey), keyPairId: KEY_PAIR_ID, privateKey: PEM, dateLessThan: expiresAt });
      assert.equal(url, theirs);
    }
  });

  test('signing is deterministic in now, and Expires is whole seconds rounded down', () => {
    assert.equal(signer.sign(objectKeys[0] ?? '', now).url, signer.sign(objectKeys[0] ?? '', new Date(now)).url);
    const { expiresAt } = signer.sign('a.zip', new Date(now.getTime() + 999));
    assert.equal(expiresAt.getTime(), now.getTime() + 25 * DAY_MS);
    const short = createUrlSigner({ baseUrl: BASE_URL, key, validForMs: 60_000 }).sign('a.zip', now);
    assert.equal(short.expiresAt.getTime(), now.getTime() + 60_000);
  });

  test('a tampered URL fails verification', () => {
    const { url } = signer.sign('Exports/2025/08/C1/C1.zip', now);
    const expires = new URL(url).searchParams.get('Expires') ?? '';
    const tampered = [
      url.replace('/C1/C1.zip', '/C2/C2.zip'),
      url.replace('/2025/08/', '/2025/07/'),
      url.replace(`Expires=${expires}`, `Expires=${Number(expires) + 1}`),
      url.replace(`Expires=${expires}`, `Expires=${Number(expires) + 365 * 86_400}`),
      url.replace('https://', 'http://'),
    ];
    for (const bad of tampered) {
      assert.notEqual(bad, url);
      assert.equal(verifySignedUrl(bad, publicKey).valid, false, bad);
    }
    const other: KeyObject = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    assert.equal(verifySignedUrl(url, other).valid, false, 'another key pair');
  });

  test('a URL that is not a canned-policy signed URL is refused, bad configuration too', () => {
    assert.throws(() => verifySignedUrl(`https://${DOMAIN}/a.zip`, publicKey), /no query string/);
    assert.throws(() => verifySignedUrl(`https://${DOMAIN}/a.zip?Expires=1`, publicKey), /needs numeric Expires, Key-Pair-Id and Signature/);
    assert.throws(() => verifySignedUrl(`https://${DOMAIN}/a.zip?Policy=x&Key-Pair-Id=K&Signature=s`, publicKey), /custom-policy/);
    assert.throws(() => createUrlSigner({ baseUrl: DOMAIN, key }), /base URL must look like/);
    assert.throws(() => createUrlSigner({ baseUrl: `${BASE_URL}/reports`, key }), /no path/);
    assert.throws(() => createUrlSigner({ baseUrl: BASE_URL, key, validForMs: 0 }), /validForMs/);
    assert.throws(() => signer.sign('', now), /objectKey must not be empty/);
    assert.throws(() => signer.sign('a.zip', new Date(Number.NaN)), /invalid Date/);
  });

  test('throughput (measured, not asserted)', async (t) => {
    const loaded = await loadSigningKey({ kind: 'development', keyPairId: KEY_PAIR_ID, privateKeyPem: PEM });
    const fast = createUrlSigner({ baseUrl: BASE_URL, key: loaded });
    const rate = (count: number, sign: (i: number) => unknown): number => {
      const started = performance.now();
      for (let i = 0; i < count; i++) sign(i);
      return Math.round((count / (performance.now() - started)) * 1000);
    };
    const ours = rate(2000, (i) => fast.sign(`Exports/2025/08/C${i}/C${i}.zip`, now));
    const theirs = rate(300, (i) =>
      getSignedUrl({ url: objectUrl(BASE_URL, `Exports/2025/08/C${i}/C${i}.zip`), keyPairId: KEY_PAIR_ID, privateKey: PEM, dateLessThan: now }),
    );
    t.diagnostic(`signs/s with a KeyObject: ${ours}; getSignedUrl with a PEM string: ${theirs}`);
  });
});
