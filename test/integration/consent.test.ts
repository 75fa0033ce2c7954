import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Pool } from 'pg';
import { STREAMS, type Stream } from '../../common/streams.js';
import { snapshotAudience } from '../../db/audience.js';
import { insertCampaign } from '../../db/campaigns.js';
import { audienceWhere } from '../../db/queries.js';
import { recordEvents } from '../../db/events.js';
import { migrate } from '../../db/migrate.js';
import { createPool } from '../../db/pool.js';
import { subscriptionsOf } from '../../db/subscriptions.js';
import { listUsers } from '../../db/users.js';
import { startPostgres, type PostgresStandin } from '../../local-stack/postgres.js';
import { seedUsers } from '../../local-stack/seed.js';

/**
 * Consent per stream on a real PostgreSQL: the migration from one subscription flag per user
 * (nothing lost, the same marketing audiences, statements back for marketing opt-outs) and the
 * stream rules for Mailgun's events (README, "Streams and consent").
 */

/** The last migration before consent was kept per stream. */
const BEFORE_STREAMS = 1764900000000;
const STREAMS_MIGRATION = 1765000000000;

let postgres: PostgresStandin;

before(async () => {
  postgres = await startPostgres();
});
after(async () => {
  await postgres?.stop();
});

async function freshDatabase(name: string): Promise<{ url: string; pool: Pool }> {
  const admin = createPool(postgres.url, 1);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgres.url);
  url.pathname = `/${name}`;
  return { url: url.toString(), pool: createPool(url.toString(), 4) };
}

/** Who a new campaign of `stream` would go to (its audience snapshot, default filter), as user ids. */
async function audienceOf(pool: Pool, stream: Stream, statuses?: Array<'subscribed' | 'pending'>): Promise<string[]> {
  const audience = statuses ? { subscriptionStatuses: statuses } : {};
  const { id } = await insertCampaign(pool, { name: `who gets ${stream}`, type: stream, audience });
  await snapshotAudience(pool, id, audience);
  const { rows } = await pool.query<{ id: string }>('SELECT user_id::text AS id FROM campaign_recipients WHERE campaign_id = $1 ORDER BY user_id', [id]);
  return rows.map((r) => r.id);
}

describe('the migration to consent per stream', () => {
  let pool: Pool;
  let url: string;

  before(async () => {
    ({ url, pool } = await freshDatabase('before_streams'));
    await migrate(url, () => {}, { upTo: BEFORE_STREAMS });
  });
  after(async () => {
    await pool?.end();
  });

  test('nothing is lost, marketing audiences are the same, and statements come back for marketing opt-outs only', async () => {
    // Today's schema with data: 300 users across every status, set of email types and suppression reason.
    const typeSets = [['financial', 'newsletter'], ['financial'], ['newsletter', 'outreach'], [], ['financial', 'newsletter', 'outreach'], ['outreach', 'outreach']];
    const reasonOf = (i: number): string | null =>
      i % 13 === 0 ? 'bounced'
      : i % 17 === 0 ? 'unsubscribed' // from a newsletter (its event below)
      : i % 19 === 0 ? 'unsubscribed' // no event names a campaign
      : i % 23 === 0 ? 'complained' // about a statement
      : i % 29 === 0 ? 'complained' // about a newsletter
      : i % 31 === 0 ? 'invalid address: no @'
      : null;
    const users = Array.from({ length: 300 }, (_, k) => k + 1).map((i) => ({
      email: `fan${i}@old.example`,
      status: i % 37 === 0 ? 'inactive' : 'active',
      subscription: i % 7 === 0 ? 'unsubscribed' : i % 11 === 0 ? 'pending' : 'subscribed',
      types: typeSets[i % typeSets.length] ?? [],
      reason: reasonOf(i),
    }));
    await pool.query(
      `INSERT INTO users (email, name, status, subscription_status, email_types, suppressed_at, suppression_reason)
       SELECT email, 'Fan', status, sub, coalesce(string_to_array(nullif(types, ''), ','), '{}'), CASE WHEN reason IS NOT NULL THEN now() - interval '3 days' END, reason
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(email, status, sub, types, reason)`,
      [users.map((u) => u.email), users.map((u) => u.status), users.map((u) => u.subscription), users.map((u) => u.types.join(',')), users.map((u) => u.reason)],
    );
    const campaign = async (type: Stream) =>
      (await pool.query<{ id: string }>(`INSERT INTO campaigns (name, type) VALUES ('old ' || $1, $1) RETURNING id::text`, [type])).rows[0]?.id;
    const newsletter = await campaign('newsletter');
    const statement = await campaign('financial');
    await pool.query(
      `INSERT INTO mailgun_events (event_id, event, campaign_id, user_id, recipient, occurred_at, source)
       SELECT 'old-' || u.id, u.suppression_reason,
              CASE WHEN (split_part(split_part(u.email, '@', 1), 'fan', 2))::int % 23 = 0 THEN $2::bigint
                   WHEN (split_part(split_part(u.email, '@', 1), 'fan', 2))::int % 19 = 0 THEN NULL ELSE $1::bigint END,
              u.id, u.email, u.suppressed_at, 'webhook'
       FROM users u WHERE u.suppression_reason IN ('unsubscribed', 'complained')`,
      [newsletter, statement],
    );

    const idOf = new Map((await pool.query<{ id: string; email: string }>('SELECT id::text, email FROM users')).rows.map((r) => [r.email, r.id]));
    const oldAudience = async (stream: Stream, statuses: string[]) =>
      (
        await pool.query<{ id: string }>(
          `SELECT id::text FROM users WHERE status = 'active' AND suppressed_at IS NULL AND subscription_status = ANY ($1::text[])
             AND $2 = ANY (email_types) ORDER BY id`,
          [statuses, stream],
        )
      ).rows.map((r) => r.id);
    const before = new Map<string, string[]>();
    for (const stream of STREAMS) {
      before.set(stream, await oldAudience(stream, ['subscribed']));
      before.set(`${stream}+pending`, await oldAudience(stream, ['subscribed', 'pending']));
    }
    const oldList = (
      await pool.query<{ id: string; subscription_status: string; email_types: string[] }>(
        `SELECT id::text, subscription_status, email_types FROM users WHERE status = 'active' ORDER BY users.id`,
      )
    ).rows;

    assert.deepEqual(await migrate(url, () => {}, { upTo: STREAMS_MIGRATION }), ['1765000000000_consent-per-stream']);

    // Nothing lost: each email type a user had is a stream row with their status, or an opt-out with the old reason and time.
    for (const user of users) {
      const id = idOf.get(user.email) ?? assert.fail(user.email);
      const rows = new Map((await subscriptionsOf(pool, id)).map((s) => [s.stream, s]));
      for (const type of new Set(user.types)) {
        const row = rows.get(type) ?? assert.fail(`${user.email} lost ${type}`);
        if (row.source === 'migration' && row.reason === 'migrated') assert.equal(row.status, user.subscription, `${user.email} ${type}`);
        else assert.deepEqual([row.status, row.reason], ['unsubscribed', user.reason], `${user.email} ${type}`);
      }
      const optedOut = user.reason === 'unsubscribed' || user.reason === 'complained';
      if (optedOut) {
        for (const stream of ['newsletter', 'outreach']) assert.deepEqual([rows.get(stream)?.status, rows.get(stream)?.reason], ['unsubscribed', user.reason], `${user.email} ${stream}`);
      }
    }
    const addressLevel = (await pool.query<{ email: string; suppression_reason: string }>('SELECT email, suppression_reason FROM users WHERE suppressed_at IS NOT NULL')).rows;
    assert.deepEqual(
      addressLevel.map((r) => [r.email, r.suppression_reason]).sort(),
      users.filter((u) => u.reason === 'bounced' || u.reason === 'invalid address: no @').map((u) => [u.email, u.reason]).sort(),
      'bounces and refused addresses stay suppressed as addresses',
    );

    // Today's code makes the campaigns below: the rest of the migrations first (none touches consent).
    await migrate(url, () => {});

    // The same audiences for every marketing stream; statements also reach those whose opt-out was not about a statement.
    const statementOptOut = (i: number) => i % 23 === 0 && reasonOf(i) === 'complained';
    const backForStatements = users
      .map((u, k) => ({ ...u, i: k + 1 }))
      .filter((u) => (u.reason === 'unsubscribed' || u.reason === 'complained') && !statementOptOut(u.i))
      .filter((u) => u.status === 'active' && u.types.includes('financial'));
    for (const stream of STREAMS) {
      const variants: Array<[string, Array<'subscribed' | 'pending'>]> = [[stream, ['subscribed']], [`${stream}+pending`, ['subscribed', 'pending']]];
      for (const [key, statuses] of variants) {
        const now = await audienceOf(pool, stream, statuses);
        const expected = new Set(before.get(key));
        if (stream === 'financial') {
          for (const u of backForStatements) if ((statuses as string[]).includes(u.subscription)) expected.add(idOf.get(u.email) ?? '');
        }
        assert.deepEqual(now, [...expected].sort((a, b) => Number(a) - Number(b)), key);
      }
    }
    assert.ok(backForStatements.length > 5, 'the data has marketing opt-outs who get statements again');

    // The CRM's user list answers as before, except that an opted-out user's marketing streams now say so.
    const list = await listUsers(pool, { limit: 1000 });
    const optedOutIds = new Set(users.filter((u) => u.reason === 'unsubscribed' || u.reason === 'complained').map((u) => idOf.get(u.email)));
    assert.equal(list.length, oldList.length);
    for (const [k, old] of oldList.entries()) {
      const now = list[k] ?? assert.fail(`missing ${old.id}`);
      assert.equal(now.id, old.id);
      if (optedOutIds.has(old.id)) continue;
      assert.deepEqual([now.subscriptionStatus, now.emailTypes], [old.subscription_status, [...new Set(old.email_types)].sort()], `user ${old.id}`);
    }
  });
});

describe('Mailgun events and the stream rules', () => {
  let pool: Pool;
  const campaigns = new Map<Stream, string>();
  let users: string[] = [];
  let seq = 0;

  before(async () => {
    let url: string;
    ({ url, pool } = await freshDatabase('streams'));
    await migrate(url);
    const profiles = await seedUsers(pool, 20, { mixed: false });
    users = profiles.map((p) => p.email);
    for (const stream of STREAMS) campaigns.set(stream, (await insertCampaign(pool, { name: `a ${stream}`, type: stream, audience: {} })).id);
  });
  after(async () => {
    await pool?.end();
  });

  const event = (recipient: string, kind: 'unsubscribed' | 'complained' | 'permanent_fail', from: Stream | null) =>
    recordEvents(pool, [{
      token: null,
      record: {
        eventId: `rule-${++seq}`,
        event: kind,
        campaignId: from === null ? null : (campaigns.get(from) ?? null),
        recipient,
        messageId: null,
        occurredAt: new Date().toISOString(),
        url: null,
        reason: null,
      },
    }], 'webhook');
  const idOf = async (email: string) => (await pool.query<{ id: string }>('SELECT id::text FROM users WHERE email = $1', [email])).rows[0]?.id ?? assert.fail(email);
  const statusOf = async (email: string) =>
    Object.fromEntries((await subscriptionsOf(pool, await idOf(email))).map((s) => [s.stream, `${s.status}${s.reason === 'seeded' ? '' : ` (${s.reason})`}`]));

  test('each signal opts out of the streams the rules say, and a statement is never skipped for a marketing opt-out', async () => {
    const [unsubNewsletter, unsubStatement, unsubNowhere, complainNewsletter, complainStatement, bounced, untouched] = users as [string, string, string, string, string, string, string];
    await event(unsubNewsletter, 'unsubscribed', 'newsletter');
    await event(unsubStatement, 'unsubscribed', 'financial');
    await event(unsubNowhere, 'unsubscribed', null);
    await event(complainNewsletter, 'complained', 'newsletter');
    await event(complainStatement, 'complained', 'financial');
    await event(bounced, 'permanent_fail', 'outreach');

    const on = 'subscribed';
    assert.deepEqual(await statusOf(unsubNewsletter), { financial: on, newsletter: 'unsubscribed (unsubscribed)', outreach: on });
    assert.deepEqual(await statusOf(unsubStatement), { financial: 'unsubscribed (unsubscribed)', newsletter: on, outreach: on });
    assert.deepEqual(await statusOf(unsubNowhere), { financial: on, newsletter: 'unsubscribed (unsubscribed)', outreach: 'unsubscribed (unsubscribed)' });
    assert.deepEqual(await statusOf(complainNewsletter), { financial: on, newsletter: 'unsubscribed (complained)', outreach: 'unsubscribed (complained)' });
    assert.deepEqual(await statusOf(complainStatement), { financial: 'unsubscribed (complained)', newsletter: 'unsubscribed (complained)', outreach: 'unsubscribed (complained)' });
    assert.deepEqual(await statusOf(bounced), { financial: on, newsletter: on, outreach: on }, 'a bounce is about the address, not consent');

    const who = async (stream: Stream) => new Set(await audienceOf(pool, stream));
    const [newsletter, outreach, financial] = [await who('newsletter'), await who('outreach'), await who('financial')];
    const ids = Object.fromEntries(await Promise.all(users.slice(0, 7).map(async (u, k) => [k, await idOf(u)] as const)));
    const has = (set: Set<string>, k: number) => set.has(ids[k] ?? '');
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((k) => has(newsletter, k)), [false, true, false, false, false, false, true], 'newsletter');
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((k) => has(outreach, k)), [true, true, false, false, false, false, true], 'outreach');
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((k) => has(financial, k)), [true, false, true, true, false, false, true], 'statements');
    assert.ok(untouched);
  });

  test('a complaint after an unsubscribe is recorded as a complaint; the same event twice changes nothing twice', async () => {
    const person = users[10] ?? assert.fail();
    await event(person, 'unsubscribed', 'newsletter');
    const first = (await subscriptionsOf(pool, await idOf(person))).find((s) => s.stream === 'newsletter');
    await event(person, 'complained', 'newsletter');
    assert.deepEqual(await statusOf(person), { financial: 'subscribed', newsletter: 'unsubscribed (complained)', outreach: 'unsubscribed (complained)' });
    await event(person, 'unsubscribed', 'newsletter');
    assert.deepEqual(await statusOf(person), { financial: 'subscribed', newsletter: 'unsubscribed (complained)', outreach: 'unsubscribed (complained)' }, 'an unsubscribe does not soften a complaint');
    assert.ok(first);

    const again = { token: null, record: { eventId: 'rule-twice', event: 'unsubscribed' as const, campaignId: campaigns.get('outreach') ?? null, recipient: users[11] ?? '', messageId: null, occurredAt: new Date().toISOString(), url: null, reason: null } };
    assert.deepEqual(await recordEvents(pool, [again], 'webhook'), ['recorded']);
    const once = (await subscriptionsOf(pool, await idOf(users[11] ?? ''))).find((s) => s.stream === 'outreach');
    assert.deepEqual(await recordEvents(pool, [again], 'webhook'), ['duplicate']);
    const twice = (await subscriptionsOf(pool, await idOf(users[11] ?? ''))).find((s) => s.stream === 'outreach');
    assert.deepEqual(twice, once);
    assert.equal(once?.campaignId, campaigns.get('outreach'));
  });
});

describe('the audience query on tables without statistics', () => {
  test('each person’s consent and report links are looked up by key, never joined by a plan that guesses', async () => {
    const { url, pool } = await freshDatabase('no_statistics');
    try {
      await migrate(url);
      // Just loaded, as after a bulk import or a run's links just written: no ANALYZE has run.
      await seedUsers(pool, 3000, { mixed: false });
      const { id } = await insertCampaign(pool, { name: 'statements', type: 'financial', audience: {} });
      await pool.query(
        `INSERT INTO report_links (campaign_id, user_id, kind, filename, label, url, expires_at)
         SELECT $1, id, 'streaming', 'f.zip', 'Streaming', 'https://x.example/f.zip', now() + interval '1 day' FROM users WHERE id % 2 = 0`,
        [id],
      );
      // The financial stream, marketing consent too, customers with links in this campaign: every lookup at once.
      const params = ['financial', ['subscribed'], 'newsletter', null, '0', false, id];
      const { rows } = await pool.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) SELECT id FROM users WHERE ${audienceWhere(1)}`, params);
      const nodes = flatten(rows[0]?.['QUERY PLAN'][0]?.Plan);
      const lookups = nodes.filter((node) => node['Relation Name'] === 'subscriptions' || node['Relation Name'] === 'report_links');
      assert.equal(lookups.length, 3, 'two consents and the links, each a lookup of its own');
      for (const lookup of lookups) {
        assert.match(lookup['Index Name'] ?? '', /_pkey$/, `${lookup['Relation Name']} by its key: ${JSON.stringify(lookup)}`);
        assert.match(lookup['Index Cond'] ?? '', /user_id = users\.id/);
      }
      assert.ok(!nodes.some((node) => /Join|Nested Loop/.test(node['Node Type'])), 'no join');
      const selected = await pool.query(`SELECT id FROM users WHERE ${audienceWhere(1)}`, params);
      assert.equal(selected.rowCount, 1500, 'the customers with links');
    } finally {
      await pool.end();
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

function flatten(node: PlanNode | undefined): PlanNode[] {
  return node ? [node, ...(node.Plans ?? []).flatMap(flatten)] : [];
}
