/**
 * `npm run check:security`: starts the stack on free ports (Temporal, PostgreSQL, Firestore, the
 * Mailgun stand-in) and the API on it, probes the API from outside as an attacker would, and
 * prints one JSON line per probe and a summary. Exit code 1 if any probe found the API wanting.
 * Also run by CI (test/integration/check-security.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { openApiServer } from '../api/services.js';
import { signWebhook } from '../api/webhooks/signature.js';
import { seedUsers } from '../local-stack/seed.js';
import { startLocalStack } from '../local-stack/stack.js';
import { createPool } from '../db/pool.js';
import { loadConfig } from '../worker/config.js';

interface Probe {
  name: string;
  ok: boolean;
  detail: string;
}

const KEYS = { reader: `reader-${randomBytes(12).toString('hex')}`, crm: `crm-${randomBytes(12).toString('hex')}`, ops: `ops-${randomBytes(12).toString('hex')}` };
const SIGNING_KEY = `whsec-${randomBytes(16).toString('hex')}`;
const WEBHOOKS_PER_MINUTE = 20;

const stack = await startLocalStack();
const config = loadConfig({
  ...stack.env,
  MAILGUN_FROM_DOMAINS: 'mg.distronation.com',
  API_KEYS: `reader:read:${KEYS.reader};crm:read,write,send:${KEYS.crm};ops:admin:${KEYS.ops}`,
  API_PORT: '0',
  MAILGUN_WEBHOOK_SIGNING_KEY: SIGNING_KEY,
  MAILGUN_WEBHOOK_RATE_LIMIT_PER_MINUTE: String(WEBHOOKS_PER_MINUTE),
  LOG_LEVEL: 'silent',
});
const pool = createPool(config.DATABASE_URL, 2);
await seedUsers(pool, 5);
const api = await openApiServer(config, pino({ level: 'silent' }));
const probes: Probe[] = [];

async function call(method: string, path: string, { key, body, headers = {} }: { key?: string; body?: string | object; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { ...(key ? { 'x-api-key': key } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, text, retryAfter: response.headers.get('retry-after') };
}

async function expect(name: string, want: number, answer: Promise<{ status: number; text: string }>, mustSay?: RegExp): Promise<void> {
  const { status, text } = await answer;
  const ok = status === want && (mustSay === undefined || mustSay.test(text));
  probes.push({ name, ok, detail: `${status} ${text.slice(0, 160)}` });
}

const draft = (name: string) => ({ name, type: 'newsletter', content: { subject: 'Hi', text: 'Hello' }, audience: { limit: 5 } });

try {
  await expect('no key', 401, call('GET', '/campaigns'));
  await expect('a wrong key', 401, call('GET', '/campaigns', { key: `${KEYS.crm}x` }));
  await expect('a read key creating a campaign', 403, call('POST', '/campaigns', { key: KEYS.reader, body: draft('no') }), /lacks the write scope/);
  await expect('a crm key reading the audit log', 403, call('GET', '/audit', { key: KEYS.crm }), /lacks the admin scope/);
  await expect('a crm key lifting a suppression', 403, call('DELETE', '/suppressions/1?reason=because', { key: KEYS.crm }), /admin/);
  await expect('an 8 MB webhook (unsigned, refused before parsing)', 413, call('POST', '/webhooks/mailgun', { body: `{"pad":"${'x'.repeat(8 * 1024 * 1024)}"}` }));
  await expect('a 17 MB campaign body', 413, call('POST', '/campaigns', { key: KEYS.crm, body: `{"pad":"${'x'.repeat(17 * 1024 * 1024)}"}` }));
  await expect('a 600 KB html', 400, call('POST', '/campaigns', { key: KEYS.crm, body: { ...draft('big'), content: { subject: 'Hi', html: 'x'.repeat(600 * 1024) } } }), /at most 512 KB/);
  await expect('an id past bigint', 400, call('GET', '/campaigns/9999999999999999999', { key: KEYS.reader }), /9223372036854775807/);
  await expect('a cursor past bigint', 400, call('GET', '/campaigns?cursor=9999999999999999999', { key: KEYS.reader }));
  await expect('a user id past bigint', 400, call('POST', '/campaigns', { key: KEYS.crm, body: { ...draft('ids'), audience: { userIds: ['9999999999999999999'] } } }));
  await expect('CR/LF in a subject', 400, call('POST', '/campaigns', { key: KEYS.crm, body: { ...draft('crlf'), content: { subject: 'Hi\r\nBcc: victim@x.example', text: 'x' } } }), /line break/);
  await expect('CR/LF in a from', 400, call('POST', '/campaigns', { key: KEYS.crm, body: { ...draft('crlf'), content: { subject: 'Hi', text: 'x', from: 'a@mg.test.example\r\nBcc: victim@x.example' } } }), /line break/);

  const key = { 'idempotency-key': `probe-${randomBytes(6).toString('hex')}` };
  await expect('an Idempotency-Key, first use', 201, call('POST', '/campaigns', { key: KEYS.crm, body: draft('first'), headers: key }));
  await expect('the same Idempotency-Key with another body', 422, call('POST', '/campaigns', { key: KEYS.crm, body: draft('second'), headers: key }), /idempotency_mismatch/);

  // The monthly run's key, taken by a caller: it lands in the caller's own scope, never the run's.
  const reserved = await call('POST', '/campaigns', { key: KEYS.crm, body: draft('statements?'), headers: { 'idempotency-key': 'financial-2026-12' } });
  const { rows } = await pool.query<{ scope: string }>("SELECT idempotency_scope AS scope FROM campaigns WHERE idempotency_key = 'financial-2026-12'");
  probes.push({ name: "the reserved financial-YYYY-MM key", ok: reserved.status === 201 && rows.length === 1 && rows[0]?.scope === 'api:crm:create', detail: `${reserved.status}, scope ${rows.map((r) => r.scope).join(', ')}` });

  // A burst of signed webhooks from one address: cut off at the limit with Retry-After.
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < WEBHOOKS_PER_MINUTE + 5; i++) {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const token = randomBytes(25).toString('hex');
    const body = { signature: { timestamp, token, signature: signWebhook(SIGNING_KEY, timestamp, token) }, 'event-data': { event: 'delivered', id: `burst-${i}-${token}`, timestamp: Date.now() / 1000, recipient: 'burst@x.example', 'user-variables': {} } };
    const answer = await call('POST', '/webhooks/mailgun', { body });
    statuses.push(answer.status);
    retryAfter ??= answer.retryAfter;
  }
  // The 8 MB post above counted too: at most the minute's requests are taken, everything after the first 429 is refused.
  const limited = statuses.filter((s) => s === 429).length;
  const firstRefused = statuses.indexOf(429);
  const cutOff = firstRefused > 0 && statuses.slice(0, firstRefused).every((s) => s === 200) && statuses.slice(firstRefused).every((s) => s === 429);
  probes.push({
    name: 'a webhook burst from one address',
    ok: cutOff && limited >= 5 && statuses.length - limited <= WEBHOOKS_PER_MINUTE && retryAfter !== null,
    detail: `${statuses.length} posts: ${statuses.length - limited} recorded, then ${limited} answered 429 (Retry-After ${retryAfter ?? 'none'})`,
  });

  await expect('the audit log, for admin', 200, call('GET', '/audit', { key: KEYS.ops }), /"actor":"api:crm","action":"create"/);
} finally {
  await api.stop();
  await pool.end();
  await stack.stop();
}

for (const probe of probes) console.log(JSON.stringify(probe));
const failed = probes.filter((p) => !p.ok);
console.log(JSON.stringify({ probes: probes.length, passed: probes.length - failed.length, failed: failed.length }));
process.exit(failed.length > 0 ? 1 : 0);
