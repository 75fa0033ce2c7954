import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as signSync, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { SecretsManagerClient, type GetSecretValueCommand, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import {
  DEFAULT_LINK_VALIDITY_MS,
  createUrlSigner,
  loadSigningKey,
  matchesResource,
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

  test('every URL verifies, points at its object and expires exactly 25 days after now', async () => {
    for (const objectKey of objectKeys) {
      const { url, expiresAt } = await signer.sign(objectKey, now);
      const check = verifySignedUrl(url, publicKey);
      assert.equal(check.valid, true, url);
      assert.equal(check.keyPairId, KEY_PAIR_ID);
      assert.equal(check.policy, 'canned');
      assert.equal(check.resource, objectUrl(BASE_URL, objectKey));
      assert.equal(keyOf(url), objectKey);
      assert.equal(new URL(url).host, DOMAIN);
      assert.equal(expiresAt.getTime() - now.getTime(), 25 * DAY_MS);
      assert.equal(check.expiresAt.getTime(), expiresAt.getTime());
      assert.equal(new URL(url).searchParams.get('Expires'), String(expiresAt.getTime() / 1000));
    }
    assert.equal(DEFAULT_LINK_VALIDITY_MS, 25 * DAY_MS);
  });

  test('path segments are percent-encoded, slashes kept', async () => {
    assert.equal(
      objectUrl(BASE_URL, 'Distro/2025/08/a b+c/a b+c.zip'),
      `https://${DOMAIN}/Distro/2025/08/a%20b%2Bc/a%20b%2Bc.zip`,
    );
    assert.match((await signer.sign('Exports/2025/08/ü&?#%=/ü&?#%=.zip', now)).url, /\/%C3%BC%26%3F%23%25%3D\/%C3%BC%26%3F%23%25%3D\.zip\?Expires=/);
  });

  test('URLs are byte-identical to @aws-sdk/cloudfront-signer getSignedUrl with the PEM', async () => {
    for (const objectKey of objectKeys) {
      const { url, expiresAt } = await signer.sign(objectKey, now);
      const theirs = getSignedUrl({ url: objectUrl(BASE_URL, objectKey), keyPairId: KEY_PAIR_ID, privateKey: PEM, dateLessThan: expiresAt });
      assert.equal(url, theirs);
    }
  });

  test('signing is deterministic in now, and Expires is whole seconds rounded down', async () => {
    assert.equal((await signer.sign(objectKeys[0] ?? '', now)).url, (await signer.sign(objectKeys[0] ?? '', new Date(now))).url);
    const { expiresAt } = await signer.sign('a.zip', new Date(now.getTime() + 999));
    assert.equal(expiresAt.getTime(), now.getTime() + 25 * DAY_MS);
    const short = await createUrlSigner({ baseUrl: BASE_URL, key, validForMs: 60_000 }).sign('a.zip', now);
    assert.equal(short.expiresAt.getTime(), now.getTime() + 60_000);
  });

  test('a tampered URL fails verification', async () => {
    const { url } = await signer.sign('Exports/2025/08/C1/C1.zip', now);
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

  test('a URL that is not a signed URL is refused, bad configuration too', async () => {
    assert.throws(() => verifySignedUrl(`https://${DOMAIN}/a.zip`, publicKey), /no query string/);
    assert.throws(() => verifySignedUrl(`https://${DOMAIN}/a.zip?Expires=1`, publicKey), /needs Key-Pair-Id and Signature/);
    assert.throws(() => verifySignedUrl(`https://${DOMAIN}/a.zip?Expires=x&Key-Pair-Id=K&Signature=s`, publicKey), /needs a numeric Expires/);
    assert.throws(() => verifySignedUrl(`https://${DOMAIN}/a.zip?Policy=x&Key-Pair-Id=K&Signature=s`, publicKey), /custom policy is not JSON/);
    assert.throws(() => createUrlSigner({ baseUrl: DOMAIN, key }), /base URL must look like/);
    assert.throws(() => createUrlSigner({ baseUrl: `${BASE_URL}/reports`, key }), /no path/);
    assert.throws(() => createUrlSigner({ baseUrl: BASE_URL, key, validForMs: 0 }), /validForMs/);
    await assert.rejects(signer.sign('', now), /objectKey must not be empty/);
    await assert.rejects(signer.sign('a.zip', new Date(Number.NaN)), /invalid Date/);
  });
});

describe('custom policies: one signature for a customer\'s month', () => {
  const key: CloudFrontSigningKey = { keyPairId: KEY_PAIR_ID, privateKey };
  const signer = createUrlSigner({ baseUrl: BASE_URL, key });
  const now = new Date('2025-09-01T07:00:00Z');
  const reports = (id: string) => [`Exports/2025/08/${id}/${id}.zip`, `Distro/2025/08/${id}/${id}.zip`];
  const covering = async (keyPattern: string, objectKeys: string[]) => {
    const signature = await signer.signPattern(keyPattern, now);
    return objectKeys.map((objectKey) => signature.urlFor(objectKey));
  };
  /** The same query (policy and signature) on another object's path. */
  const moved = (url: string, objectKey: string) => `${objectUrl(BASE_URL, objectKey)}${url.slice(url.indexOf('?'))}`;

  test('both reports get one policy and one signature; each URL verifies and points at its object', async () => {
    const urls = await covering('*/2025/08/C1/C1.zip', reports('C1'));
    assert.equal(urls.length, 2);
    const query = (url: string) => new URL(url).search;
    assert.equal(query(urls[0]?.url ?? ''), query(urls[1]?.url ?? ''), 'the same Policy and Signature');
    reports('C1').forEach((objectKey, i) => {
      const { url, expiresAt } = urls[i] ?? assert.fail('a URL per key');
      const check = verifySignedUrl(url, publicKey);
      assert.deepEqual({ valid: check.valid, policy: check.policy, keyPairId: check.keyPairId }, { valid: true, policy: 'custom', keyPairId: KEY_PAIR_ID });
      assert.equal(keyOf(url), objectKey);
      assert.equal(expiresAt.getTime() - now.getTime(), 25 * DAY_MS);
      assert.equal(check.expiresAt.getTime(), expiresAt.getTime());
    });
  });

  test('URLs are byte-identical to getSignedUrl with the same custom policy', async () => {
    for (const id of ['C1', 'a b+c', 'ü&?#%=']) {
      const urls = await covering(`*/2025/08/${id}/${id}.zip`, reports(id));
      const policy = JSON.stringify({
        Statement: [{ Resource: `${BASE_URL}/*/2025/08/${encodeURIComponent(id)}/${encodeURIComponent(id)}.zip`, Condition: { DateLessThan: { 'AWS:EpochTime': Math.floor((now.getTime() + 25 * DAY_MS) / 1000) } } }],
      });
      reports(id).forEach((objectKey, i) => {
        assert.equal(urls[i]?.url, getSignedUrl({ url: objectUrl(BASE_URL, objectKey), keyPairId: KEY_PAIR_ID, privateKey: PEM, policy }));
      });
    }
  });

  test("one customer's links open no other customer's file, nor another month's", async () => {
    const [youtube] = await covering('*/2025/08/12/12.zip', reports('12'));
    const url = youtube?.url ?? assert.fail('signed');
    const others = [
      ...reports('112'),
      ...reports('121'),
      ...reports('1'),
      ...reports('2'),
      'Exports/2025/08/12/112.zip',
      'Exports/2025/08/12/12.zip.bak',
      'Exports/2025/07/12/12.zip',
      'Exports/2024/08/12/12.zip',
      'Exports/2025/08/12/12/12.zip',
      'Exports/2025/08/x12/x12.zip',
    ];
    for (const objectKey of others) assert.equal(verifySignedUrl(moved(url, objectKey), publicKey).valid, false, objectKey);
    assert.equal(verifySignedUrl(moved(url, 'Distro/2025/08/12/12.zip'), publicKey).valid, true, 'the customer\'s other report');
    const tamperedPolicy = url.replace(/Policy=[^&]+/, (p: string) => p.replace('MTI', 'MTE'));
    assert.notEqual(tamperedPolicy, url);
    assert.equal(verifySignedUrl(tamperedPolicy, publicKey).valid, false, 'an edited policy');
  });

  test('a key the pattern does not cover, or a pattern that would widen, is refused before signing', async () => {
    await assert.rejects(covering('*/2025/08/C1/C1.zip', ['Exports/2025/08/C2/C2.zip']), /is not covered by the policy resource/);
    await assert.rejects(covering('*/2025/08/C*/C*.zip', reports('C*')), /segment "C\*" has a wildcard character/);
    await assert.rejects(covering('', []), /keyPattern must not be empty/);
    // "?" is percent-encoded in URLs, so an id with it is a literal, not a wildcard.
    const urls = await covering('*/2025/08/C?/C?.zip', reports('C?'));
    assert.equal(verifySignedUrl(moved(urls[0]?.url ?? '', 'Exports/2025/08/C1/C1.zip'), publicKey).valid, false);
  });

  test("policies the checker does not read are refused, not passed", () => {
    const encode = (policy: unknown) => Buffer.from(JSON.stringify(policy)).toString('base64').replace(/\+/g, '-').replace(/=/g, '_').replace(/\//g, '~');
    const statement = { Resource: `${BASE_URL}/*`, Condition: { DateLessThan: { 'AWS:EpochTime': 2e9 }, IpAddress: { 'AWS:SourceIp': '10.0.0.0/8' } } };
    for (const policy of [{ Statement: [statement] }, { Statement: [statement, statement] }, { Statement: [] }, {}]) {
      assert.throws(() => verifySignedUrl(`${BASE_URL}/a.zip?Policy=${encode(policy)}&Key-Pair-Id=K&Signature=s`, publicKey), /custom policies are read only with one statement/);
    }
  });

  test('matchesResource: * is any characters, ? exactly one, everything else literal', () => {
    const cases: Array<[string, string, boolean]> = [
      ['https://d/*/a.zip', 'https://d/Exports/2025/a.zip', true],
      ['https://d/*/a.zip', 'https://d/a.zip', false],
      ['https://d/*a.zip', 'https://d/a.zip', true],
      ['https://d/?.zip', 'https://d/ab.zip', false],
      ['https://d/?.zip', 'https://d/a.zip', true],
      ['https://d/a.zip', 'https://d/aXzip', false],
      ['https://d/a(b)+.zip', 'https://d/a(b)+.zip', true],
      ['https://d/*/2025/01/7/7.zip', 'https://d/Exports/2025/01/7/7.zip', true],
      ['https://d/*/2025/01/7/7.zip', 'https://d/Exports/2025/01/77/77.zip', false],
      ['https://d/*/2025/01/7/7.zip', 'https://d/Exports/2025/01/7/7.zip.bak', false],
      ['*a*b', 'xaybzb', true],
      ['*a*b', 'xaybzc', false],
      ['a**?', 'ab', true],
      ['', '', true],
      ['*', '', true],
      ['?', '', false],
    ];
    for (const [pattern, resource, expected] of cases) assert.equal(matchesResource(pattern, resource), expected, `${pattern} vs ${resource}`);
  });

  test('matchesResource agrees with the same pattern as a regular expression, on random patterns and resources', () => {
    const alphabet = ['a', 'b', '/', '*', '?'];
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const text = (max: number, letters: string[]) => Array.from({ length: random(max) }, () => letters[random(letters.length)]).join('');
    for (let i = 0; i < 5000; i++) {
      const pattern = text(8, alphabet);
      const resource = text(10, ['a', 'b', '/']);
      const expression = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
      assert.equal(matchesResource(pattern, resource), expression.test(resource), `${JSON.stringify(pattern)} vs ${JSON.stringify(resource)}`);
    }
  });
});

describe('signing throughput', () => {
  test('one core, and the thread pool (measured, not asserted)', async (t) => {
    const loaded = await loadSigningKey({ kind: 'development', keyPairId: KEY_PAIR_ID, privateKeyPem: PEM });
    const now = new Date('2025-09-01T07:00:00Z');
    const fast = createUrlSigner({ baseUrl: BASE_URL, key: loaded });
    const rate = async (count: number, sign: (i: number) => unknown): Promise<number> => {
      const started = performance.now();
      await Promise.all(Array.from({ length: count }, (_, i) => sign(i)));
      return Math.round((count / (performance.now() - started)) * 1000);
    };
    const oneCore = await rate(1000, (i) => signSync('sha1', Buffer.from(`Exports/2025/08/C${i}/C${i}.zip`), loaded.privateKey));
    const pooled = await rate(2000, (i) => fast.sign(`Exports/2025/08/C${i}/C${i}.zip`, now));
    const theirs = await rate(300, (i) =>
      getSignedUrl({ url: objectUrl(BASE_URL, `Exports/2025/08/C${i}/C${i}.zip`), keyPairId: KEY_PAIR_ID, privateKey: PEM, dateLessThan: now }),
    );
    t.diagnostic(`signatures/s: ${oneCore} on one core, ${pooled} URLs on the thread pool; getSignedUrl with a PEM string: ${theirs}`);
  });
});
