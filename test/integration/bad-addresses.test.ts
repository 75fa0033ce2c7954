import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findCampaignStats } from '../../db/campaigns.js';
import { ledgerSummary } from '../../db/ledger.js';
import { harnessForFile, waitFor } from '../helpers/harness.js';

/**
 * Mailgun refuses a whole request when one `to` address is malformed. One bad
 * address must cost only itself: malformed ones are caught before sending, and
 * what only Mailgun refuses is found by splitting the batch, each part with its
 * own ledger row and marker so exactly-once still holds, also under worker kills.
 */

const file = harnessForFile({ worker: false });

/** Three bad addresses at fixed positions of a 1,000-user audience; one of them only Mailgun refuses. */
function badAddresses(tag: string): Map<number, string> {
  return new Map([
    [100, `not-an-address-${tag}`],
    [500, `two@@${tag}.example`],
    [901, `fan@band_name.${tag}.example`], // valid RFC 5322 syntax, not a valid hostname: only Mailgun says no
  ]);
}

/** 1,000 newsletter subscribers who are also the only ones on a stream of their own (= tag), three of them with bad addresses. */
async function seedAudience(emailType: string): Promise<{ emails: string[]; bad: string[] }> {
  const bad = badAddresses(emailType);
  const emails = Array.from({ length: 1000 }, (_, i) => bad.get(i + 1) ?? `${emailType}-${i + 1}@fans.example`);
  await file.h.pool.query(
    `WITH inserted AS (
       INSERT INTO users (email, name)
       SELECT email, 'Fan ' || ord FROM unnest($1::text[]) WITH ORDINALITY AS t(email, ord) ORDER BY ord
       RETURNING id
     )
     INSERT INTO subscriptions (user_id, stream, status, source)
     SELECT id, stream, 'subscribed', 'test' FROM inserted CROSS JOIN unnest(ARRAY['newsletter', $2::text]) AS stream`,
    [emails, emailType],
  );
  return { emails, bad: [...bad.values()] };
}

function deliveries(campaignId: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of file.h.mailgun.accepted()) {
    if (m.variables['campaign_id'] === campaignId) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
  }
  return counts;
}

async function assertOnlyBadAddressesFailed(campaignId: string, { emails, bad }: { emails: string[]; bad: string[] }): Promise<void> {
  const result = await file.h.campaigns.result(campaignId);
  assert.deepEqual(result, { campaignId, status: 'sent', total: 1000, sent: 997, failed: 3, unknownBatches: [] });

  const counts = deliveries(campaignId);
  const good = emails.filter((e) => !bad.includes(e));
  assert.deepEqual(good.filter((e) => counts.get(e) !== 1), [], 'every good address got exactly one message');
  assert.deepEqual(bad.filter((e) => counts.has(e)), [], 'no bad address was sent anything');

  const stats = await findCampaignStats(file.h.pool, campaignId);
  assert.deepEqual([stats?.sent, stats?.failed], [997, 3]);
  const ledger = await ledgerSummary(file.h.pool, campaignId);
  assert.equal(ledger.find((r) => r.state === 'accepted')?.recipients, 997, 'accepted parts carried 997 recipients');
  assert.deepEqual(ledger.filter((r) => !['accepted', 'failed'].includes(r.state)), [], 'nothing pending, sending or unknown');

  const report = await file.h.campaigns.get(campaignId);
  const failed = new Map(report.failedRecipients.map((r) => [r.email, r.reason]));
  const [noAt, doubleAt, badHost] = bad as [string, string, string];
  assert.deepEqual([...failed.keys()].sort(), [...bad].sort());
  assert.equal(failed.get(noAt), 'invalid address: no @');
  assert.equal(failed.get(doubleAt), 'invalid address: bad local part');
  assert.match(failed.get(badHost) ?? '', /^Mailgun 400: .*not a valid address/);
}

test('a 1,000-recipient batch with 3 bad addresses: 997 messages exactly once, 3 failed with reasons and suppressed', async () => {
  const worker = await file.h.startWorker();
  try {
    const audience = await seedAudience('bad-addresses');
    const campaignId = await file.h.campaigns.create({
      name: 'bad addresses',
      type: 'newsletter',
      content: { subject: 'Hello', text: 'Hello %recipient.name%' },
      audience: { emailType: 'bad-addresses' },
    });
    const requestsBefore = file.h.mailgun.requests;
    await file.h.campaigns.startSend(campaignId, { batchSize: 1000 });
    await assertOnlyBadAddressesFailed(campaignId, audience);
    // Bisection finds the one address only Mailgun refuses in about log2(1000) rounds, not 1000 calls.
    const calls = file.h.mailgun.requests - requestsBefore;
    assert.ok(calls <= 25, `${calls} Mailgun calls`);

    // The bad addresses are suppressed: the next campaign to the same people leaves them out.
    const { rows } = await file.h.pool.query<{ email: string; suppression_reason: string }>(
      `SELECT email, suppression_reason FROM users u JOIN subscriptions s ON s.user_id = u.id AND s.stream = 'bad-addresses'
       WHERE u.suppressed_at IS NOT NULL`,
    );
    assert.deepEqual(rows.map((r) => r.email).sort(), [...audience.bad].sort());
    const next = await file.h.campaigns.create({
      name: 'bad addresses, again',
      type: 'newsletter',
      content: { subject: 'Hello again', text: 'Hello' },
      audience: { emailType: 'bad-addresses' },
    });
    await file.h.campaigns.startSend(next, { batchSize: 1000 });
    const again = await file.h.campaigns.result(next);
    assert.deepEqual([again.total, again.sent, again.failed], [997, 997, 0]);

    const doc = (await file.h.firestore.firestore.collection('campaigns').doc(campaignId).get()).data();
    assert.equal((doc?.['progress'] as { failed?: number } | undefined)?.failed, 3);
  } finally {
    await worker.stop();
  }
});

test('a worker killed twice while the batch is being split: still exactly once', async () => {
  // Every request takes 300 ms, so the kills land with parts in Mailgun's hands.
  file.h.mailgun.setRandomFaults({ slow: 1, slowDelayMs: 300, seed: 5 });
  try {
    const audience = await seedAudience('bad-addresses-kill');
    const campaignId = await file.h.campaigns.create({
      name: 'bad addresses under kills',
      type: 'newsletter',
      content: { subject: 'Hello', text: 'Hello' },
      audience: { emailType: 'bad-addresses-kill' },
    });
    let worker = await file.h.spawnWorker();
    const start = file.h.mailgun.requests;
    await file.h.campaigns.startSend(campaignId, { batchSize: 1000 });
    for (const after of [4, 9]) {
      await waitFor(() => file.h.mailgun.requests - start >= after, { what: `${after} Mailgun calls` });
      await worker.kill();
      worker = await file.h.spawnWorker();
    }
    try {
      await assertOnlyBadAddressesFailed(campaignId, audience);
    } finally {
      await worker.stop();
    }
    const { rows } = await file.h.pool.query<{ split: number; checked: number }>(
      `SELECT count(*) FILTER (WHERE state = 'split')::int AS split, count(*) FILTER (WHERE outcome_checks > 0)::int AS checked
       FROM send_ledger WHERE campaign_id = $1`,
      [campaignId],
    );
    assert.ok((rows[0]?.split ?? 0) >= 5, 'the batch was split down to the bad address');
    assert.ok((rows[0]?.checked ?? 0) >= 1, "a kill left a part in Mailgun's hands, settled from its logs");
  } finally {
    file.h.mailgun.setRandomFaults(null);
  }
});
