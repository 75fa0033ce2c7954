import type { Pool } from 'pg';
import type { AudienceFilter, CampaignStatus } from '../common/campaign.js';
import { audienceParams, snapshotAudience } from './audience.js';
import { inTransaction } from './pool.js';
import { audienceWhere } from './queries.js';

/**
 * Retry rounds: a campaign sent again to the recipients whose part failed for a reason that may
 * since have been fixed, and only them (README, "Retrying failed recipients").
 *
 * Each person's latest row (their original snapshot row, or their row in the latest round that
 * had them) decides:
 *   - failed (a refused or malformed address): never retried;
 *   - in a part whose outcome is unknown (`sending`, `unknown`): in doubt, never retried;
 *   - in no part, or a `pending` one, of a round that ended `failed`: never sent (Mailgun refused the
 *     campaign's own request, say its sender): retried;
 *   - in an `accepted` part, and Mailgun reported a temporary failure for them after it, at least
 *     `temporaryAfterMs` ago, with no delivery or permanent failure for this campaign: resent.
 * Suppressed people, and people no longer in the campaign's audience or consenting to its stream,
 * are left out whatever their failure was.
 */

export interface RetryFilter {
  /** Only reasons containing this text, case-insensitive; absent: every retryable reason. */
  reasonLike?: string;
  /** A temporary failure counts once it is this old: until then Mailgun may still be retrying it. */
  temporaryAfterMs: number;
}

/** One reason and how many it would retry. */
export interface RetryReason {
  reason: string;
  recipients: number;
}

export interface RetryCandidates {
  /** Never sent before: their round failed before their part was sent. */
  unsent: number;
  /** Sent before and failed temporarily: they get the message again. */
  resent: number;
  /** In parts whose outcome nobody could prove: left for an operator, never retried. */
  inDoubt: number;
  /** The most common reasons among those retried, most common first. */
  reasons: RetryReason[];
}

export interface RetryRound {
  round: number;
  status: CampaignStatus;
  reasonLike: string | null;
  temporaryAfterMs: number;
  requestedBy: string;
  requestedAt: Date;
  firstOrdinal: number;
  recipients: number;
  unsent: number;
  resent: number;
  /** Recipients of the round Mailgun took (from the ledger). */
  sent: number;
  /** Recipients of the round who will not get it (a bad address found this time). */
  failed: number;
  failureReason: string | null;
  finishedAt: Date | null;
}

/** Statuses a round is over in; any other means it is still sending. */
export const ROUND_OVER: readonly CampaignStatus[] = ['sent', 'cancelled', 'failed'];

/** $1 campaign id, $2 reason contains (null: any), $3 temporary failures at least this many ms old, $4..$10 audienceWhere. */
const CANDIDATES = `
  WITH latest AS (
    SELECT DISTINCT ON (r.user_id) r.ordinal, r.user_id, r.round, r.failed_at
    FROM campaign_recipients r WHERE r.campaign_id = $1
    ORDER BY r.user_id, r.round DESC
  ), placed AS (
    SELECT l.*, p.state, p.last_error, p.last_attempt_at
    FROM latest l LEFT JOIN send_ledger p
      ON p.campaign_id = $1 AND p.state <> 'split' AND l.ordinal BETWEEN p.first_ordinal AND p.last_ordinal
    WHERE l.failed_at IS NULL
  ), rounds AS (
    SELECT 0 AS round, status, failure_reason FROM campaigns WHERE id = $1
    UNION ALL
    SELECT round, status, failure_reason FROM campaign_retries WHERE campaign_id = $1
  ), temporary AS (
    SELECT DISTINCT ON (user_id) user_id, occurred_at, reason FROM mailgun_events
    WHERE campaign_id = $1 AND event = 'temporary_fail' AND user_id IS NOT NULL
    ORDER BY user_id, occurred_at DESC
  ), classified AS (
    SELECT p.ordinal, p.user_id, rd.status AS round_status, t.occurred_at AS temporary_at, p.last_attempt_at,
      CASE WHEN p.state = 'accepted' THEN 'resend' WHEN p.state IS NULL OR p.state = 'pending' THEN 'unsent' ELSE 'in-doubt' END AS kind,
      CASE WHEN p.state = 'accepted' THEN 'temporary failure: ' || coalesce(t.reason, 'no reason given')
           ELSE coalesce(p.last_error, rd.failure_reason, 'not sent') END AS reason
    FROM placed p JOIN rounds rd ON rd.round = p.round LEFT JOIN temporary t ON t.user_id = p.user_id
  ), retryable AS (
    -- Joined, not IN (subquery): the planner may run a subquery per row, and a long userIds list in each.
    SELECT c.*, users.email, users.name, users.custom_id FROM classified c JOIN users ON users.id = c.user_id
    WHERE ((c.kind = 'unsent' AND c.round_status = 'failed')
        OR (c.kind = 'resend' AND c.temporary_at > c.last_attempt_at
            AND c.temporary_at <= now() - $3::bigint * interval '1 millisecond'
            AND NOT EXISTS (SELECT 1 FROM mailgun_events e WHERE e.campaign_id = $1 AND e.user_id = c.user_id
                             AND e.event IN ('delivered', 'permanent_fail'))))
      AND ($2::text IS NULL OR strpos(lower(c.reason), lower($2::text)) > 0)
      AND ${audienceWhere(4)}
  )`;

const sql = {
  previewRetry: `${CANDIDATES}
    SELECT (SELECT count(*) FROM retryable WHERE kind = 'unsent')::int AS unsent,
           (SELECT count(*) FROM retryable WHERE kind = 'resend')::int AS resent,
           (SELECT count(*) FROM classified WHERE kind = 'in-doubt')::int AS "inDoubt",
           coalesce((SELECT json_agg(r) FROM (
             SELECT reason, count(*)::int AS recipients FROM retryable GROUP BY reason ORDER BY count(*) DESC, reason LIMIT 10
           ) r), '[]') AS reasons`,

  // ... $11 the round's first ordinal, $12 the round. The round's recipients, as they are now in users.
  freezeRetryRecipients: `${CANDIDATES}, inserted AS (
      INSERT INTO campaign_recipients (campaign_id, ordinal, user_id, email, name, custom_id, round, retry_reason, resend)
      SELECT $1, $11::int - 1 + row_number() OVER (ORDER BY r.ordinal), r.user_id, r.email, r.name, r.custom_id, $12::int, r.reason, r.kind = 'resend'
      FROM retryable r
      RETURNING resend
    )
    SELECT count(*) FILTER (WHERE NOT resend)::int AS unsent, count(*) FILTER (WHERE resend)::int AS resent FROM inserted`,

  lockCampaign: `SELECT status FROM campaigns WHERE id = $1 FOR UPDATE`,

  // $1 campaign id. The next round's first ordinal: after every row of every earlier round.
  selectNextOrdinal: `SELECT coalesce(max(ordinal), 0)::int + 1 AS next FROM campaign_recipients WHERE campaign_id = $1`,

  insertRound: `
    INSERT INTO campaign_retries (campaign_id, round, reason_like, temporary_after_ms, requested_by, first_ordinal, recipients, unsent, resent)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,

  // $1 campaign id, $2 round, $3 status, $4 version, $5 reason (kept with 'failed'). A write older than the last changes nothing.
  updateRoundStatus: `
    UPDATE campaign_retries SET status = $3, status_version = $4,
      failure_reason = CASE WHEN $3 = 'failed' THEN $5 ELSE failure_reason END,
      finished_at = CASE WHEN $3 IN ('sent', 'cancelled', 'failed') THEN coalesce(finished_at, now()) END
    WHERE campaign_id = $1 AND round = $2 AND status_version < $4
    RETURNING round`,

  selectRounds: `
    SELECT r.round, r.status, r.reason_like AS "reasonLike", r.temporary_after_ms::float8 AS "temporaryAfterMs",
      r.requested_by AS "requestedBy", r.requested_at AS "requestedAt", r.first_ordinal AS "firstOrdinal",
      r.recipients, r.unsent, r.resent, r.failure_reason AS "failureReason", r.finished_at AS "finishedAt",
      (SELECT coalesce(sum(coalesce(l.message_count, l.recipient_count)), 0) FROM send_ledger l
        WHERE l.campaign_id = r.campaign_id AND l.state = 'accepted'
          AND l.first_ordinal >= r.first_ordinal AND l.last_ordinal < r.first_ordinal + r.recipients)::int AS sent,
      (SELECT count(*) FROM campaign_recipients c
        WHERE c.campaign_id = r.campaign_id AND c.round = r.round AND c.failed_at IS NOT NULL)::int AS failed
    FROM campaign_retries r WHERE r.campaign_id = $1 ORDER BY r.round`,
} as const;

function candidateParams(campaignId: string, stream: string, audience: AudienceFilter, filter: RetryFilter): unknown[] {
  return [campaignId, filter.reasonLike ?? null, filter.temporaryAfterMs, ...audienceParams(stream, audience, campaignId)];
}

/** Who a retry would send to now, counted; nothing is written. */
export async function previewRetry(pool: Pool, campaignId: string, stream: string, audience: AudienceFilter, filter: RetryFilter): Promise<RetryCandidates> {
  const { rows } = await pool.query<RetryCandidates>(sql.previewRetry, candidateParams(campaignId, stream, audience, filter));
  return rows[0] ?? { unsent: 0, resent: 0, inDoubt: 0, reasons: [] };
}

export async function retryRounds(pool: Pool, campaignId: string): Promise<RetryRound[]> {
  return (await pool.query<RetryRound>(sql.selectRounds, [campaignId])).rows;
}

export interface FreezeRound extends RetryFilter {
  campaignId: string;
  round: number;
  stream: string;
  audience: AudienceFilter;
  requestedBy: string;
}

/** Why a round cannot be frozen: a retry that would be wrong (not one that may work later). */
export class RetryRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryRefused';
  }
}

/**
 * Freezes a round's recipients, once: the round's row and its recipients are written in one
 * transaction under the campaign's lock, so a repeated call (an activity retry, a crash after the
 * commit) finds the round and returns it as it was frozen, and two rounds never interleave.
 * The campaign's own snapshot is completed first: a send that failed while it was still being
 * taken left the rest of its audience unsent too.
 */
export async function freezeRetryRound(pool: Pool, request: FreezeRound): Promise<RetryRound> {
  const { campaignId, round } = request;
  const existing = (await retryRounds(pool, campaignId)).find((r) => r.round === round);
  if (existing) return existing;
  await snapshotAudience(pool, campaignId, request.audience);
  const alreadyFrozen = await inTransaction(pool, async (client) => {
    const campaign = (await client.query<{ status: CampaignStatus }>(sql.lockCampaign, [campaignId])).rows[0];
    if (!campaign) throw new RetryRefused(`campaign ${campaignId} does not exist`);
    const rounds = (await client.query<RetryRound>(sql.selectRounds, [campaignId])).rows;
    const frozenMeanwhile = rounds.find((r) => r.round === round);
    if (frozenMeanwhile) return frozenMeanwhile;
    checkRoundMayStart(campaignId, campaign.status, rounds, round);
    const firstOrdinal = (await client.query<{ next: number }>(sql.selectNextOrdinal, [campaignId])).rows[0]?.next ?? 1;
    const counted = await client.query<{ unsent: number; resent: number }>(sql.freezeRetryRecipients, [
      ...candidateParams(campaignId, request.stream, request.audience, request),
      firstOrdinal,
      round,
    ]);
    const { unsent, resent } = counted.rows[0] ?? { unsent: 0, resent: 0 };
    await client.query(sql.insertRound, [
      campaignId,
      round,
      request.reasonLike ?? null,
      request.temporaryAfterMs,
      request.requestedBy,
      firstOrdinal,
      unsent + resent,
      unsent,
      resent,
    ]);
    return undefined;
  });
  if (alreadyFrozen) return alreadyFrozen;
  const frozen = (await retryRounds(pool, campaignId)).find((r) => r.round === round);
  if (!frozen) throw new Error(`retry round ${round} of campaign ${campaignId} vanished after it was frozen`);
  return frozen;
}

/** The retry round a ledger batch number belongs to (undefined: the campaign's own send). See common/retries.ts. */
export function roundOfBatch<R extends Pick<RetryRound, 'firstOrdinal'>>(rounds: readonly R[], ledgerBatchNo: number): R | undefined {
  return rounds.filter((r) => r.firstOrdinal <= ledgerBatchNo).at(-1);
}

/** Campaign statuses whose send is over: nothing of it is in flight. */
export const SEND_OVER: readonly CampaignStatus[] = ['sent', 'tracking', 'analysed', 'archived', 'failed', 'cancelled'];

/** Refuses a round while anything of the campaign may still be sending, or out of turn. */
export function checkRoundMayStart(campaignId: string, status: CampaignStatus, rounds: readonly Pick<RetryRound, 'round' | 'status'>[], round: number): void {
  if (!SEND_OVER.includes(status)) {
    throw new RetryRefused(`campaign ${campaignId} is ${status}: recipients can be retried once its send is over`);
  }
  const running = rounds.find((r) => !ROUND_OVER.includes(r.status));
  if (running) throw new RetryRefused(`campaign ${campaignId} is still sending retry round ${running.round}: wait for it to finish`);
  const next = (rounds.at(-1)?.round ?? 0) + 1;
  if (round !== next) throw new RetryRefused(`retry round ${round} of campaign ${campaignId} is out of turn: the next round is ${next}`);
}

/** A round's status, as its send workflow reports it; `version` orders the writes (see updateCampaignStatus). */
export async function setRoundStatus(
  pool: Pool,
  campaignId: string,
  round: number,
  status: CampaignStatus,
  version: number,
  reason: string | null,
): Promise<boolean> {
  const { rowCount } = await pool.query(sql.updateRoundStatus, [campaignId, round, status, version, reason]);
  return (rowCount ?? 0) > 0;
}
