import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ApiServer } from '../../api/server.js';
import { CampaignError } from '../../client/campaigns.js';
import { retryWorkflowId } from '../../common/retries.js';
import { findCampaignStats } from '../../db/campaigns.js';
import { userIdsByEmail } from '../../db/users.js';
import type { campaignSend } from '../../workflows/campaign-send.js';
import { progressQuery } from '../../workflows/campaign-send-api.js';
import { startTestApi, TEST_API_KEY } from '../helpers/api.js';
import { describeRun, runCli } from '../helpers/cli.js';
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
    const cli = await runCli(['campaign', 'retry-failed', campaignId, '--dry-run', '--reason-like', 'verify'], file.h.env);
    assert.equal(cli.code, 0, describeRun(cli));
    assert.deepEqual(JSON.parse(cli.stdout), { ...dry, dryRun: true });

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

  test('temporary failures Mailgun reported are resent once old enough; deliveries, bounces and Mailgun’s own successful retries are not', async () => {
    const people = await nextPeople(20);
    const campaignId = await file.h.campaigns.create({ name: 'deferred', type: 'newsletter', content: { subject: 'deferred', text: 'Hi' }, audience: { userIds: people.ids } });
    await file.h.campaigns.startSend(campaignId, { batchSize: 10 });
    await waitFor(async () => ['tracking', 'analysed', 'archived'].includes((await file.h.campaigns.get(campaignId)).campaign.status), { what: 'the send over' });
    const [deferred1, deferred2, deliveredLater, bounced, ...rest] = people.emails as [string, string, string, string, ...string[]];
    file.h.mailgun.configureWebhooks({ url: `${api.url}/webhooks/mailgun`, signingKey: SIGNING_KEY });
    for (const recipient of [deferred1, deferred2, deliveredLater]) file.h.mailgun.recordEngagement({ recipient, event: 'failed', severity: 'temporary' });
    file.h.mailgun.recordEngagement({ recipient: deliveredLater, event: 'delivered' }); // Mailgun's own retry got through
    file.h.mailgun.recordEngagement({ recipient: bounced, event: 'failed', severity: 'permanent', reason: 'bounce' });
    for (const recipient of rest) file.h.mailgun.recordEngagement({ recipient, event: 'delivered' });
    await file.h.mailgun.settleWebhooks();
    file.h.mailgun.configureWebhooks(null);

    const early = await file.h.campaigns.retryFailed(campaignId, { dryRun: true });
    assert.deepEqual([early.unsent, early.resent], [0, 0], 'within Mailgun’s own 8 hours of retrying, nothing is resent');
    const dry = await file.h.campaigns.retryFailed(campaignId, { dryRun: true, temporaryAfterMinutes: 0 });
    assert.deepEqual([dry.unsent, dry.resent, dry.inDoubt], [0, 2, 0]);
    assert.ok(dry.reasons.every((r) => r.reason.startsWith('temporary failure: ')), JSON.stringify(dry.reasons));

    const retryOverApi = (body: unknown) =>
      fetch(`${api.url}/campaigns/${campaignId}/retry-failed`, {
        method: 'POST',
        headers: { 'x-api-key': TEST_API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { round?: number; resent?: number; error?: { fields?: Array<{ field: string }> } } }));
    const refused = await retryOverApi({ temporaryAfterMinutes: -5 });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error?.fields?.[0]?.field ?? '', /temporaryAfterMinutes/);
    const accepted = await retryOverApi({ temporaryAfterMinutes: 0 });
    assert.deepEqual([accepted.status, accepted.body.round, accepted.body.resent], [202, 1, 2]);
    const result = await file.h.campaigns.retryResult(campaignId, 1);
    assert.deepEqual([result.status, result.total, result.sent], ['sent', 2, 2]);
    const counts = messagesPer(campaignId);
    for (const email of people.emails) assert.equal(counts.get(email), [deferred1, deferred2].includes(email) ? 2 : 1, email);
    assert.equal((await findCampaignStats(file.h.pool, campaignId))?.sent, 20, 'a resend is not a second recipient sent');
    const [round] = (await file.h.campaigns.get(campaignId)).retries;
    assert.deepEqual([round?.unsent, round?.resent, round?.sent], [0, 2, 2]);

    // The failures before the resend are answered: only a new one counts.
    assert.equal((await file.h.campaigns.retryFailed(campaignId, { dryRun: true, temporaryAfterMinutes: 0 })).resent, 0);
    file.h.mailgun.configureWebhooks({ url: `${api.url}/webhooks/mailgun`, signingKey: SIGNING_KEY });
    file.h.mailgun.recordEngagement({ recipient: deferred1, event: 'failed', severity: 'temporary' });
    await file.h.mailgun.settleWebhooks();
    file.h.mailgun.configureWebhooks(null);
    const again = await file.h.campaigns.retryFailed(campaignId, { dryRun: true, temporaryAfterMinutes: 0 });
    assert.deepEqual([again.round, again.resent], [2, 1]);
  });

  test('a worker killed twice during a round, while its progress is queried: everyone once, and every history replays', async () => {
    const people = await nextPeople(2400);
    const campaignId = await failedMidSend('killed during a retry', people.ids, 400, { batchSize: 100, ratePerSecond: 400 });
    const reached = messagesPer(campaignId).size;
    file.h.mailgun.setRandomFaults({ slow: 0.5, slowDelayMs: 400, seed: 7 });
    let querying = true;
    try {
      const started = await file.h.campaigns.retryFailed(campaignId, { send: { batchSize: 100, window: 4, ratePerSecond: 2000 } });
      assert.equal(started.unsent, 2400 - reached);
      const handle = file.h.temporal.workflow.getHandle<typeof campaignSend>(started.workflowId ?? assert.fail('no workflow'));
      // What operators and the CRM do: ask the round how it is going, all along, across the kills.
      const queries = (async () => {
        let answered = 0;
        while (querying) {
          if (await handle.query(progressQuery).then(() => true, () => false)) answered++;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return answered;
      })();
      for (const more of [500, 1300]) {
        await waitFor(() => acceptedFor(file.h.mailgun, campaignId).length >= reached + more, { what: `${more} resent` });
        await worker.kill();
        worker = await file.h.spawnWorker();
      }
      const result = await file.h.campaigns.retryResult(campaignId, 1);
      querying = false;
      assert.ok((await queries) > 0, 'the queries were answered');
      assert.deepEqual(result, { campaignId, status: 'sent', total: 2400 - reached, sent: 2400 - reached, failed: 0, unknownBatches: [] });
    } finally {
      querying = false;
      file.h.mailgun.setRandomFaults(null);
    }
    const counts = messagesPer(campaignId);
    const wrong = people.emails.filter((email) => counts.get(email) !== 1);
    assert.deepEqual(wrong, [], `not exactly once: ${wrong.slice(0, 5).join(', ')}`);
    assert.equal((await findCampaignStats(file.h.pool, campaignId))?.sent, 2400);
    const { rows } = await file.h.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM send_ledger l JOIN campaign_retries r USING (campaign_id)
       WHERE l.campaign_id = $1 AND l.first_ordinal >= r.first_ordinal AND (l.outcome_checks > 0 OR l.attempts > 1)`,
      [campaignId],
    );
    assert.ok((rows[0]?.n ?? 0) > 0, 'a kill interrupted a batch of the round in Mailgun’s hands, and it was proven before anything was resent');
  });

  test('a round’s batch of unknown outcome waits for an operator, who settles it by the number campaign show gives', async () => {
    const people = await nextPeople(30);
    const campaignId = await failedMidSend('unknown in a round', people.ids, 10, { batchSize: 10, ratePerSecond: 40 });
    await worker.stop();
    worker = await file.h.spawnWorker({ MAILGUN_OUTCOME_MAX_WAIT_MS: '3000' });
    file.h.mailgun.setEventsLag(3_600_000); // Mailgun's logs never prove it in time
    try {
      file.h.mailgun.injectFaults({ kind: 'server-error' }); // Mailgun did not take it, but nobody can know that
      const started = await file.h.campaigns.retryFailed(campaignId, { send: { batchSize: 100 } });
      const waiting = await waitFor(async () => {
        const report = await file.h.campaigns.get(campaignId);
        return report.retries[0]?.status === 'needs-attention' && report.unsettled.length > 0 && report;
      }, { what: 'the round waiting for an operator' });
      const [round] = waiting.retries as [NonNullable<(typeof waiting.retries)[number]>];
      const batchNo = waiting.unsettled[0]?.batchNo ?? assert.fail('no unsettled batch');
      assert.equal(batchNo, round.firstOrdinal, 'the ledger numbers the round’s batches after the send’s');
      assert.equal(waiting.campaign.status, 'failed', 'the campaign’s own status stays its send’s');
      await assert.rejects(file.h.campaigns.resolveBatch(campaignId, 0, 'resend'), /has no send yet|not waiting|wrong-phase|ended/);
      file.h.mailgun.setEventsLag(0);
      await file.h.campaigns.resolveBatch(campaignId, batchNo, 'resend');
      const result = await file.h.campaigns.retryResult(campaignId, started.round);
      assert.deepEqual([result.status, result.sent, result.unknownBatches], ['sent', started.unsent, []]);
    } finally {
      file.h.mailgun.setEventsLag(0);
    }
    const counts = messagesPer(campaignId);
    assert.deepEqual(people.emails.filter((e) => counts.get(e) !== 1), [], 'everyone once');
  });

  test('a round whose workflow was terminated mid-send is never followed by another: its batches may still go out', async () => {
    const people = await nextPeople(40);
    const campaignId = await failedMidSend('terminated round', people.ids, 10, { batchSize: 10, ratePerSecond: 40 });
    const first = await file.h.campaigns.retryFailed(campaignId, { send: { batchSize: 1, window: 2, ratePerSecond: 4 } });
    await waitFor(() => messagesPer(campaignId).size >= 14, { what: 'the slow round under way' });
    const workflowId = first.workflowId ?? assert.fail('no workflow');
    await file.h.temporal.workflow.getHandle(workflowId).terminate('an operator stopped it from the Temporal UI');

    for (const request of [{}, { dryRun: true }]) {
      await assert.rejects(
        file.h.campaigns.retryFailed(campaignId, request),
        (error: unknown) =>
          error instanceof CampaignError &&
          error.code === 'wrong-phase' &&
          error.message.includes(`its send ${workflowId} was terminated instead of ending by itself, so batches it had started may still go out`),
      );
    }
    // The cut-off round's activities find it gone at their next heartbeat; whatever they sent, nobody has it twice.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const counts = messagesPer(campaignId);
    assert.deepEqual(people.emails.filter((e) => (counts.get(e) ?? 0) > 1), [], 'nobody twice');
    assert.equal((await file.h.campaigns.get(campaignId)).retries.length, 1, 'no second round');
  });
});
