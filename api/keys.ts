import { createHash } from 'node:crypto';

/**
 * API keys with names and scopes (README, "API keys and scopes"). A key is known by the SHA-256 of
 * its text: the API compares digests and never holds or logs the key itself.
 *
 *   read   campaigns, progress, analytics, users, suppressions
 *   write  create and edit drafts, AI content, audience and preview sends
 *   send   approve, send-mail, pause, resume, cancel
 *   admin  everything, and resolve-batch, lifting a suppression, the audit log
 */

export const SCOPES = ['read', 'write', 'send', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  /** Who holds it, as the audit log and idempotency scopes name them: `crm`, `ops`, … */
  name: string;
  scopes: readonly Scope[];
  /** The key's SHA-256, hex. */
  sha256: string;
}

export const KEY_NAME = /^[a-z][a-z0-9-]{0,39}$/;
export const MIN_KEY_LENGTH = 16;

export function sha256Hex(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** What a key may do: its scopes; admin may do everything. */
export function grants(key: Pick<ApiKey, 'scopes'>, scope: Scope): boolean {
  return key.scopes.includes('admin') || key.scopes.includes(scope);
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/**
 * The env form, `name:scope,scope:key` entries separated by `;` (e.g.
 * `crm:read,send:…;ops:admin:…`). Returns the keys, or the problems, each naming its entry by number.
 */
export function parseApiKeys(value: string): { keys: ApiKey[] } | { problems: string[] } {
  const problems: string[] = [];
  const keys: ApiKey[] = [];
  const entries = value.split(';').map((entry) => entry.trim()).filter(Boolean);
  if (entries.length === 0) problems.push('must list at least one key, as name:scopes:key (e.g. crm:read,send:<key>)');
  entries.forEach((entry, i) => {
    const [name = '', scopeList = '', ...rest] = entry.split(':');
    const key = rest.join(':');
    // A bare key would look like a name: never echo an entry that is not name:scopes:key.
    if (rest.length === 0) return void problems.push(`entry ${i + 1}: must be name:scopes:key (e.g. crm:read,send:<key>)`);
    const which = `entry ${i + 1}${KEY_NAME.test(name) ? ` (${name})` : ''}`;
    const problem = entryProblem(name, scopeList.split(',').map((s) => s.trim()), key.length);
    if (problem) return void problems.push(`${which}: ${problem}`);
    keys.push({ name, scopes: scopesOf(scopeList), sha256: sha256Hex(key) });
  });
  problems.push(...duplicateProblems(keys));
  return problems.length > 0 ? { problems } : { keys };
}

/** The file form (API_KEYS_FILE): a JSON array of `{ "name", "scopes", "sha256" }`; no key in it. */
export function parseApiKeyFile(text: string): { keys: ApiKey[] } | { problems: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { problems: [`not JSON: ${(error as Error).message}`] };
  }
  if (!Array.isArray(parsed)) return { problems: ['must be a JSON array of {"name", "scopes", "sha256"}'] };
  const problems: string[] = [];
  const keys: ApiKey[] = [];
  parsed.forEach((item: unknown, i) => {
    const entry = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const { name, scopes, sha256 } = entry;
    const which = `entry ${i + 1}${typeof name === 'string' && KEY_NAME.test(name) ? ` (${name})` : ''}`;
    if (typeof name !== 'string' || !Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string') || typeof sha256 !== 'string') {
      return void problems.push(`${which}: must be {"name": string, "scopes": [string], "sha256": hex}`);
    }
    const problem = entryProblem(name, scopes, MIN_KEY_LENGTH) ?? (/^[0-9a-f]{64}$/.test(sha256) ? undefined : 'sha256: must be 64 lower-case hex digits');
    if (problem) return void problems.push(`${which}: ${problem}`);
    keys.push({ name, scopes: [...new Set(scopes as Scope[])], sha256 });
  });
  problems.push(...duplicateProblems(keys));
  return problems.length > 0 ? { problems } : { keys };
}

function entryProblem(name: string, scopes: string[], keyLength: number): string | undefined {
  if (!KEY_NAME.test(name)) return `the name must be lower-case letters, digits and -, starting with a letter (got ${JSON.stringify(name)})`;
  const unknown = scopes.filter((s) => !isScope(s));
  if (scopes.length === 0 || unknown.length > 0) return `scopes must be among ${SCOPES.join(', ')} (got ${JSON.stringify(scopes.join(','))})`;
  if (keyLength < MIN_KEY_LENGTH) return `the key must be at least ${MIN_KEY_LENGTH} characters`;
  return undefined;
}

function scopesOf(list: string): Scope[] {
  return [...new Set(list.split(',').map((s) => s.trim()).filter(isScope))];
}

function duplicateProblems(keys: readonly ApiKey[]): string[] {
  const problems: string[] = [];
  keys.forEach((key, i) => {
    if (keys.findIndex((k) => k.name === key.name) !== i) problems.push(`${key.name}: the name is used twice`);
    if (keys.findIndex((k) => k.sha256 === key.sha256) !== i) problems.push(`${key.name}: the same key is listed twice`);
  });
  return problems;
}

/** A key's entry from its text, as the API holds it (for the API's own callers: tests, npm start, the bench). */
export function apiKeyOf(name: string, scopes: readonly Scope[], key: string): ApiKey {
  return { name, scopes, sha256: sha256Hex(key) };
}
