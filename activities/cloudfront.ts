import { createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { GetSecretValueCommand, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import pLimit from 'p-limit';

/**
 * CloudFront signed download links for the monthly reports, and a verifier for
 * tests, operators and the local stand-in.
 *
 * Signing is done here with `crypto.sign('sha1', …)` rather than through
 * `@aws-sdk/cloudfront-signer`'s `getSignedUrl`: that function is typed to take
 * the private key as a PEM string or Buffer, re-parses it on every call
 * (~1,000 signs/s) and signs on the event loop. Here the key is parsed once
 * into a `KeyObject`, each signature runs on libuv's thread pool (every core),
 * and a customer with two reports gets one custom-policy signature covering
 * both instead of two canned ones. The URLs are byte-identical to
 * `getSignedUrl`'s for the same policy (the unit test checks that).
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
  /** When CloudFront stops serving it: the policy's `DateLessThan`, in whole seconds. */
  expiresAt: Date;
}

export interface UrlSigner {
  /**
   * A canned-policy URL for one object. `now` is the run's time, not the wall
   * clock, so the same run signs the same URLs.
   */
  sign(objectKey: string, now: Date): Promise<SignedUrl>;
  /**
   * One custom-policy signature for every object `keyPattern` matches: object
   * key segments, percent-encoded like the URLs, where a segment that is
   * exactly `*` matches any characters (CloudFront's wildcard, slashes
   * included). A segment other than `*` with a wildcard character (`*`, `?`)
   * is refused, as it would widen the policy.
   */
  signPattern(keyPattern: string, now: Date): Promise<PatternSignature>;
}

/** A signed custom policy: URLs for the objects it covers, no further signing. */
export interface PatternSignature {
  /** The URL of one object the policy covers; throws for any other. */
  urlFor(objectKey: string): SignedUrl;
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

/**
 * Signatures in flight on libuv's thread pool: enough to keep every core busy,
 * few enough that a page of customers does not queue thousands of buffers
 * (measured: 64 sign as fast as 2,000 with 15 MB less RSS).
 */
const SIGNATURES_IN_FLIGHT = 64;

export function createUrlSigner({ baseUrl, key, validForMs = DEFAULT_LINK_VALIDITY_MS }: UrlSignerOptions): UrlSigner {
  if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$/.test(baseUrl)) {
    throw new Error(`CloudFront base URL must look like https://d111111abcdef8.cloudfront.net (no path), got ${JSON.stringify(baseUrl)}`);
  }
  if (!Number.isFinite(validForMs) || validForMs < 1000) throw new RangeError(`validForMs must be at least 1000, got ${validForMs}`);
  const keyPairIdParam = encodeURIComponent(key.keyPairId);
  const inFlight = pLimit(SIGNATURES_IN_FLIGHT);
  // crypto.sign with a callback runs on the thread pool: every core signs, the event loop stays free.
  const signPolicy = (policy: string) =>
    inFlight(
      () =>
        new Promise<string>((resolve, reject) => {
          sign('sha1', Buffer.from(policy), key.privateKey, (error, signature) => (error ? reject(error) : resolve(toCloudFrontBase64(signature))));
        }),
    );
  // Rounded down: a link may stop working up to a second early, never late.
  const expiresOf = (now: Date): number => {
    if (Number.isNaN(now.getTime())) throw new RangeError('now is an invalid Date');
    return Math.floor((now.getTime() + validForMs) / 1000);
  };
  return {
    async sign(objectKey, now) {
      const expires = expiresOf(now);
      const resource = objectUrl(baseUrl, objectKey);
      const signature = await signPolicy(policyDocument(resource, expires));
      return { url: `${resource}?Expires=${expires}&Key-Pair-Id=${keyPairIdParam}&Signature=${signature}`, expiresAt: new Date(expires * 1000) };
    },
    async signPattern(keyPattern, now) {
      const expires = expiresOf(now);
      const pattern = resourcePattern(baseUrl, keyPattern);
      const policy = policyDocument(pattern, expires);
      const query = `?Policy=${toCloudFrontBase64(Buffer.from(policy))}&Key-Pair-Id=${keyPairIdParam}&Signature=${await signPolicy(policy)}`;
      return {
        urlFor(objectKey) {
          const resource = objectUrl(baseUrl, objectKey);
          if (!matchesResource(pattern, resource)) throw new Error(`${resource} is not covered by the policy resource ${pattern}`);
          return { url: `${resource}${query}`, expiresAt: new Date(expires * 1000) };
        },
      };
    },
  };
}

/** `keyPattern` as a policy resource on the distribution; see UrlSigner.signPattern. */
function resourcePattern(baseUrl: string, keyPattern: string): string {
  if (keyPattern === '') throw new Error('keyPattern must not be empty');
  const segments = keyPattern.split('/').map((segment) => (segment === '*' ? '*' : encodeURIComponent(segment)));
  const widened = segments.find((segment) => segment !== '*' && /[*?]/.test(segment));
  if (widened !== undefined) throw new Error(`keyPattern segment ${JSON.stringify(widened)} has a wildcard character: only a whole "*" segment may`);
  return `${baseUrl}/${segments.join('/')}`;
}

/**
 * CloudFront's policy match: `*` any characters (none included), `?` exactly one, the rest literally. A two-pointer
 * wildcard match, not a RegExp: a financial run checks every link it makes, and compiling an expression per customer
 * cost more than signing's bookkeeping.
 */
export function matchesResource(pattern: string, resource: string): boolean {
  let p = 0;
  let r = 0;
  // The last `*` seen, and where in the resource the text it swallows ends so far.
  let star = -1;
  let swallowedTo = 0;
  while (r < resource.length) {
    const wanted = pattern[p];
    if (wanted === '*') {
      star = p++;
      swallowedTo = r;
    } else if (wanted !== undefined && (wanted === '?' || wanted === resource[r])) {
      p++;
      r++;
    } else if (star >= 0) {
      p = star + 1;
      r = ++swallowedTo;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

export interface SignedUrlCheck {
  /**
   * The signature matches the policy (for a canned one, the URL and its
   * Expires) and the policy's resource covers the URL; whether it has expired
   * is for the caller to compare with expiresAt.
   */
  valid: boolean;
  /** The URL without its query: what is asked for. */
  resource: string;
  expiresAt: Date;
  keyPairId: string;
  policy: 'canned' | 'custom';
}

/**
 * Checks a signed URL against the CloudFront public key, the way CloudFront
 * does. Canned: rebuild the policy from the URL and its Expires and verify the
 * RSA-SHA1 signature. Custom: verify the signature over the URL's Policy, then
 * match the URL against the policy's resource. Throws if the URL is not a
 * signed URL at all, or its custom policy is one this checker does not read
 * (several statements, conditions other than DateLessThan).
 */
export function verifySignedUrl(url: string, publicKey: KeyObject): SignedUrlCheck {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) throw new Error('not a signed URL: it has no query string');
  const resource = url.slice(0, queryStart);
  const params = new URLSearchParams(url.slice(queryStart + 1));
  const keyPairId = params.get('Key-Pair-Id');
  const signature = params.get('Signature');
  const encodedPolicy = params.get('Policy');
  if (keyPairId === null || signature === null) throw new Error('not a signed URL: it needs Key-Pair-Id and Signature');
  if (encodedPolicy !== null) {
    const policy = fromCloudFrontBase64(encodedPolicy);
    const { pattern, expires } = readCustomPolicy(policy.toString());
    const valid = verify('sha1', policy, publicKey, fromCloudFrontBase64(signature)) && matchesResource(pattern, resource);
    return { valid, resource, expiresAt: new Date(expires * 1000), keyPairId, policy: 'custom' };
  }
  const expires = params.get('Expires');
  if (expires === null || !/^\d+$/.test(expires)) throw new Error('not a canned-policy signed URL: it needs a numeric Expires');
  const valid = verify('sha1', Buffer.from(policyDocument(resource, Number(expires))), publicKey, fromCloudFrontBase64(signature));
  return { valid, resource, expiresAt: new Date(Number(expires) * 1000), keyPairId, policy: 'canned' };
}

/** The resource and DateLessThan of a one-statement custom policy with no other condition. */
function readCustomPolicy(text: string): { pattern: string; expires: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('the custom policy is not JSON');
  }
  const statements = (parsed as { Statement?: unknown } | null)?.Statement;
  const statement = Array.isArray(statements) && statements.length === 1 ? (statements[0] as Record<string, unknown>) : undefined;
  const condition = statement?.['Condition'] as Record<string, Record<string, unknown>> | undefined;
  const expires = condition?.['DateLessThan']?.['AWS:EpochTime'];
  const pattern = statement?.['Resource'];
  if (typeof pattern !== 'string' || typeof expires !== 'number' || Object.keys(condition ?? {}).length !== 1) {
    throw new Error('custom policies are read only with one statement, a Resource and a DateLessThan condition');
  }
  return { pattern, expires };
}

/**
 * The policy CloudFront checks the signature against: for a canned policy it is
 * rebuilt from the URL, so key order and spacing matter (signed byte for byte);
 * a custom policy of the same shape, with a pattern as its resource, travels in the URL.
 */
export function policyDocument(resource: string, expires: number): string {
  return JSON.stringify({ Statement: [{ Resource: resource, Condition: { DateLessThan: { 'AWS:EpochTime': expires } } }] });
}

/** CloudFront's URL-safe base64: `+`→`-`, `=`→`_`, `/`→`~`. */
function toCloudFrontBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/=/g, '_').replace(/\//g, '~');
}

function fromCloudFrontBase64(text: string): Buffer {
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');
}
