import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ApiServer } from '../../api/server.js';
import { CampaignError } from '../../client/campaigns.js';
import { retryWorkflowId } from '../../common/retries.js';
import { findCampaignStats } from '../../db/campaigns.js';
import { userIdsByEmail } from '../../db/users.js';
import type { campaignSend } from '../../workflows/campaign-send.js';
import { progressQuery } from '../../workflows/campaign-send-api.js';
import { startTestApi } from '../helpers/api.js';
import { acceptedFor } from '../helpers/delivery.js';
import { campaignError } from '../helpers/errors.js';
import { harnessForFile, waitFor, type ChildWorker } from '../helpers/harness.js';

/**
 * Retrying the recipients that failed, and only them: those a failed send never reached (Mailgun
 * refused the campaign's own request) and those Mailgun reported a temporary failure for. Each round
 * is new ledger parts with markers of their own; nobody who got the message gets it again, refused
 * and suppressed addresses stay out, and exactly once holds with the worker killed mid-round.
 */

const SIGNING_KEY = 'whsec-retry-0123456789abcdef';
const file = harnessForFile({ users: 3000, seed: { mixed: false }, worker: false });
let worker: ChildWorker;
let api: ApiServer;

describe('retrying failed recipients', () => {
before(async () => {
  worker = await file.h.spawnWorker();
  api = await startTestApi(file.h, { signingKey: SIGNING_KEY });
});
after(async () => {
  await api?.stop();
  await worker?.stop();
});

/** How many messages of the campaign each address got. */
function messagesPer(campaignId: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of acceptedFor(file.h.mailgun, campaignId)) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
  return counts;
}

let taken = 0;
/** The next `n` seeded people, as the user ids a campaign's audience names. */
async function nextPeople(n: number): Promise<{ emails: string[]; ids: string[] }> {
  const emails = file.profiles.slice(taken, taken + n).map((p) => p.email);
  taken += n;
  const byEmail = await userIdsByEmail(file.h.pool, emails);
  return { emails, ids: emails.map((e) => byEmail.get(e) ?? assert.fail(`no user ${e}`)) };
}

/** A newsletter to `ids` whose send Mailgun refuses once `sentBefore` messages have gone: the campaign fails. */
async function failedMidSend(name: string, ids: string[], sentBefore: number, send: { batchSize: number; ratePerSecond: number }): Promise<string> {
  const campaignId = await file.h.campaigns.create({ name, type: 'newsletter', content: { subject: name, text: 'Hi %recipient.name%' }, audience: { userIds: ids } });
  await file.h.campaigns.startSend(campaignId, { ...send, window: 1 });
  await waitFor(() => acceptedFor(file.h.mailgun, campaignId).length >= sentBefore, { what: `${sentBefore} sent` });
  // The domain is not verified yet, say: Mailgun refuses the campaign's own request, not a recipient.
  file.h.mailgun.injectFaults({ kind: 'reject', status: 400, message: 'Domain distronation.com is not allowed to send: please verify it' });
  await assert.rejects(file.h.campaigns.lifecycleResult(campaignId), campaignError('failed', /not allowed to send/));
  return campaignId;
}

test('a send Mailgun refused part-way is retried to exactly those it never reached, once; suppressed people stay out', async () => {
  const people = await nextPeople(120);
  const campaignId = await failedMidSend('refused part-way', people.ids, 30, { batchSize: 10, ratePerSecond: 40 });
  const before = messagesPer(campaignId);
  const reached = before.size;
  assert.ok(reached >= 30 && reached < 120, `the send stopped part-way (${reached} reached)`);
  const unreached = people.emails.filter((e) => !before.has(e));
  // Someone who bounced elsewhere meanwhile is suppressed: a retry leaves them out.
  const [suppressed] = unreached as [string];
  await file.h.pool.query(`UPDATE users SET suppressed_at = now(), suppression_reason = 'bounced' WHERE lower(email) = lower($1)`, [suppressed]);

  const dry = await file.h.campaigns.retryFailed(campaignId, { dryRun: true });
  assert.equal(dry.dryRun, true);
  assert.equal(dry.round, 1);
  assert.deepEqual([dry.unsent, dry.resent, dry.inDoubt], [unreached.length - 1, 0, 0]);
  assert.ok(dry.reasons.every((r) => /not allowed to send/.test(r.reason)), JSON.stringify(dry.reasons));
  assert.equal(dry.reasons.reduce((sum, r) => sum + r.recipients, 0), unreached.length - 1);
  assert.equal(dry.workflowId, undefined, 'a dry run starts nothing');

  await assert.rejects(
    file.h.campaigns.retryFailed(campaignId, { reasonLike: 'over quota' }),
    (error: unknown) => error instanceof CampaignError && error.code === 'wrong-phase' && /no failed recipient to retry whose reason contains "over quota"/.test(error.message),
  );
  const started = await file.h.campaigns.retryFailed(campaignId, { reasonLike: 'NOT ALLOWED' });
  assert.equal(started.workflowId, retryWorkflowId(campaignId, 1));
  const result = await file.h.campaigns.retryResult(campaignId, 1);
  assert.deepEqual(result, { campaignId, status: 'sent', total: unreached.length - 1, sent: unreached.length - 1, failed: 0, unknownBatches: [] });

  const after = messagesPer(campaignId);
  for (const email of people.emails) {
    assert.equal(after.get(email) ?? 0, email === suppressed ? 0 : 1, `${email} got the campaign once (the suppressed one never)`);
  }
  const markers = new Set(acceptedFor(file.h.mailgun, campaignId).map((m) => m.variables['dn_batch']));
  assert.equal(markers.size, Math.ceil(reached / 10) + Math.ceil((unreached.length - 1) / 10), 'each round’s batches carry markers of their own');
  assert.equal((await findCampaignStats(file.h.pool, campaignId))?.sent, 119);

  const report = await file.h.campaigns.get(campaignId);
  assert.equal(report.campaign.status, 'failed', 'the campaign’s own status is its send’s: the round has its own');
  assert.equal(report.retries.length, 1);
  const [round] = report.retries as [NonNullable<(typeof report.retries)[number]>];
  assert.deepEqual(
    { round: round.round, status: round.status, recipients: round.recipients, unsent: round.unsent, resent: round.resent, sent: round.sent, failed: round.failed, reasonLike: round.reasonLike },
    { round: 1, status: 'sent', recipients: unreached.length - 1, unsent: unreached.length - 1, resent: 0, sent: unreached.length - 1, failed: 0, reasonLike: 'NOT ALLOWED' },
  );
  const audit = report.audit.find((a) => a.action === 'retry-failed');
  assert.deepEqual(audit?.details, { round: 1, unsent: unreached.length - 1, resent: 0, reasonLike: 'NOT ALLOWED' });

  // Everyone reachable has it now: a second retry finds nobody.
  await assert.rejects(
    file.h.campaigns.retryFailed(campaignId),
    (error: unknown) => error instanceof CampaignError && error.code === 'wrong-phase' && /no failed recipient to retry/.test(error.message),
  );
});
});
