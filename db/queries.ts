/**
 * Every SQL statement the pipeline runs, by name. Parameters are positional;
 * each comment lists them.
 */

const LEDGER_COLUMNS = `
  batch_no, part, parent_part, state, attempts, message_count, mailgun_message_id, last_error,
  rate_limited_ms::int AS rate_limited_ms, first_ordinal, last_ordinal, first_attempt_at, last_attempt_at,
  probe_message_id, probe_sent_at`;

/** A campaign's counters (campaign_stats as s) as EngagementCounters. */
const COUNTER_COLUMNS = `
  s.campaign_id::text AS "campaignId", s.total, s.sent, s.failed, s.delivered, s.opened, s.unique_opened AS "uniqueOpened",
  s.clicked, s.unique_clicked AS "uniqueClicked", s.bounced, s.complained, s.unsubscribed, s.temporary_failed AS "temporaryFailed"`;

const CAMPAIGN_COLUMNS = `
  id, name, type, status, subject, body_html, body_text, from_address, audience,
  total_recipients, audience_snapshot_at, send_started_at, send_finished_at,
  config_version, report_year, report_month, send_at, test_address_ids::text[] AS test_address_ids,
  frozen_content, frozen_audience, approved_at, archived_at, generated_content_id, created_at,
  failure_reason, attention_reason, send_options, sending_domain`;

/**
 * Who an audience filter selects, with its seven parameters from $n: the campaign's stream (its type),
 * accepted subscription statuses text[], another stream they must accept too or null, user ids bigint[]
 * or null (an explicit list), the last user id already taken (keyset paging; '0' for none), only users
 * with a report id (boolean), and only users with report links in this campaign (campaign id, or null
 * for no such condition). An address suppressed as a whole (bounced, refused) gets no stream.
 */
export function audienceWhere(n: number): string {
  // Each condition looks a person's own row up by its primary key, as a scalar subquery, which the
  // planner never turns into a join. As an EXISTS it could: with no statistics yet (tables just
  // loaded, a run's report links just written) it then nested-looped over every subscription for
  // every user, 55 s instead of 50 ms for a page of 20,000.
  const consents = (stream: string) =>
    `(SELECT s.status FROM subscriptions s WHERE s.user_id = users.id AND s.stream = ${stream}) = ANY ($${n + 1}::text[])`;
  return `status = 'active'
        AND suppressed_at IS NULL
        AND ${consents(`$${n}::text`)}
        AND ($${n + 2}::text IS NULL OR ${consents(`$${n + 2}::text`)})
        AND ($${n + 3}::bigint[] IS NULL OR id = ANY ($${n + 3}::bigint[]))
        AND id > $${n + 4}::bigint
        AND (NOT $${n + 5}::boolean OR custom_id IS NOT NULL)
        AND ($${n + 6}::bigint IS NULL
             OR (SELECT true FROM report_links l WHERE l.campaign_id = $${n + 6}::bigint AND l.user_id = users.id LIMIT 1))`;
}

export const sql = {
  // $1 name, $2 type, $3 subject, $4 body_html, $5 body_text, $6 from_address, $7 audience jsonb,
  // $8 report year, $9 report month, $10 send_at, $11 test address ids bigint[], $12 idempotency key or null,
  // $13 its scope, $14 the request's hash. A repeated key in its scope inserts nothing and returns no row:
  // the caller looks the first campaign up.
  insertCampaign: `
    INSERT INTO campaigns (name, type, subject, body_html, body_text, from_address, audience,
                           report_year, report_month, send_at, test_address_ids, idempotency_key,
                           idempotency_scope, idempotency_hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::bigint[], $12, $13, $14)
    ON CONFLICT (idempotency_scope, idempotency_key) DO NOTHING
    RETURNING id`,

  // $1 idempotency scope, $2 key
  selectCampaignIdByKey: `SELECT id, idempotency_hash AS "requestHash" FROM campaigns WHERE idempotency_scope = $1 AND idempotency_key = $2`,

  // $1 campaign id
  selectCampaign: `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1`,

  // $1 status or null, $2 type or null, $3 ids below this one (keyset; null for the first page), $4 limit
  listCampaigns: `
    SELECT ${CAMPAIGN_COLUMNS} FROM campaigns
    WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR type = $2) AND ($3::bigint IS NULL OR id < $3)
    ORDER BY id DESC LIMIT $4`,

  // $1 campaign id, $2 the version the editor saw, then the whole editable configuration:
  // $3 name, $4 type, $5 report year, $6 report month, $7 subject, $8 body_html, $9 body_text,
  // $10 from_address, $11 audience jsonb, $12 test address ids bigint[], $13 send_at, $14 edit id.
  // An edit withdraws an approval that has not started sending.
  updateCampaignConfig: `
    UPDATE campaigns SET name = $3, type = $4, report_year = $5, report_month = $6, subject = $7,
      body_html = $8, body_text = $9, from_address = $10, audience = $11, test_address_ids = $12::bigint[],
      send_at = $13, config_version = config_version + 1, last_edit_id = $14,
      frozen_content = NULL, frozen_audience = NULL, approved_at = NULL, updated_at = now()
    WHERE id = $1 AND config_version = $2 AND send_started_at IS NULL
    RETURNING config_version`,

  // $1 campaign id, $2 the version the approver saw, $3 send_at or null, $4 send options jsonb or null,
  // $5 sending domain or null (null keeps what is there), $6 the content every batch sends (read at version $2).
  // Freezes what every batch will send and to whom;
  // a retry finds it frozen already. A send time not later than now is no send time: the campaign sends at once.
  freezeCampaign: `
    UPDATE campaigns SET
      frozen_content = $6::jsonb,
      frozen_audience = audience, approved_at = coalesce(approved_at, now()),
      send_at = CASE WHEN $3::timestamptz > now() THEN $3::timestamptz END,
      send_options = coalesce($4::jsonb, send_options), sending_domain = coalesce($5, sending_domain), updated_at = now()
    WHERE id = $1 AND config_version = $2 AND subject IS NOT NULL AND (body_html IS NOT NULL OR body_text IS NOT NULL)
    RETURNING approved_at, send_at`,

  // $1 campaign id, $2 generated content id, $3 the version the editor saw, $4 edit id.
  // Takes a generated draft as the content.
  useGeneratedContent: `
    UPDATE campaigns c SET subject = g.subject, body_html = g.body_html, body_text = g.body_text,
      generated_content_id = g.id, config_version = c.config_version + 1, last_edit_id = $4,
      frozen_content = NULL, frozen_audience = NULL, approved_at = NULL, updated_at = now()
    FROM generated_content g
    WHERE c.id = $1 AND g.id = $2 AND c.config_version = $3 AND c.send_started_at IS NULL
    RETURNING c.config_version`,

  // $1 campaign id, $2 edit id. The version an edit made, if it was applied.
  selectAppliedEdit: `SELECT config_version FROM campaigns WHERE id = $1 AND last_edit_id = $2`,

  // $1 campaign id
  markArchived: `UPDATE campaigns SET archived_at = coalesce(archived_at, now()), updated_at = now() WHERE id = $1`,

  // $1..$7 as audienceWhere, $8 limit or null. How many the filters select now, and the first few.
  previewAudience: `
    WITH picked AS (
      SELECT id FROM users WHERE ${audienceWhere(1)} ORDER BY id LIMIT $8
    )
    SELECT (SELECT count(*) FROM picked)::int AS count,
           coalesce((SELECT array_agg(id::text) FROM (SELECT id FROM picked ORDER BY id LIMIT 5) f), '{}') AS "sampleUserIds"`,

  // $1 emails text[]. Known addresses keep their id.
  upsertTestAddresses: `
    WITH given AS (SELECT DISTINCT ON (lower(e)) e AS email FROM unnest($1::text[]) AS e),
    inserted AS (
      INSERT INTO test_addresses (email) SELECT email FROM given ON CONFLICT (lower(email)) DO NOTHING RETURNING id, email
    )
    SELECT id::text, email FROM inserted
    UNION ALL
    SELECT t.id::text, t.email FROM test_addresses t JOIN given g ON lower(t.email) = lower(g.email)`,

  // $1 ids bigint[]
  selectTestAddresses: `SELECT id::text, email FROM test_addresses WHERE id = ANY ($1::bigint[]) ORDER BY test_addresses.id`,

  // $1 campaign id, $2 preview no, $3 config version. The no-op update makes RETURNING give back an existing row.
  ensurePreview: `
    INSERT INTO campaign_previews (campaign_id, preview_no, config_version) VALUES ($1, $2, $3)
    ON CONFLICT (campaign_id, preview_no) DO UPDATE SET preview_no = EXCLUDED.preview_no
    RETURNING state, recipients, mailgun_message_id AS "messageId", sent_at AS "sentAt"`,

  // $1 campaign id, $2 preview no, $3 recipients
  claimPreview: `
    UPDATE campaign_previews SET state = 'sending', recipients = $3, sent_at = now()
    WHERE campaign_id = $1 AND preview_no = $2 AND state = 'pending' RETURNING sent_at AS "sentAt"`,

  // $1 campaign id, $2 preview no, $3 state, $4 message id or null
  settlePreview: `
    UPDATE campaign_previews SET state = $3, mailgun_message_id = $4
    WHERE campaign_id = $1 AND preview_no = $2 AND state = 'sending'`,

  // $1 prompt hash
  selectGeneratedContent: `
    SELECT id::text, subject, body_html AS html, body_text AS text, usage FROM generated_content WHERE prompt_hash = $1`,

  // $1 prompt hash, $2 model, $3 prompt jsonb, $4 subject, $5 html, $6 text, $7 usage jsonb.
  // Two workers that generated the same prompt keep the first draft.
  insertGeneratedContent: `
    INSERT INTO generated_content (prompt_hash, model, prompt, subject, body_html, body_text, usage)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (prompt_hash) DO NOTHING
    RETURNING id::text`,

  // $1 campaign id, $2..$13 the metrics, $14 final, $15 complaint rate
  upsertAnalytics: `
    INSERT INTO campaign_analytics (campaign_id, sent, delivered, opened, clicked, bounced, complained, unsubscribed,
      delivery_rate, open_rate, click_rate, bounce_rate, unsubscribe_rate, final, complaint_rate, computed_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
    ON CONFLICT (campaign_id) DO UPDATE SET sent = $2, delivered = $3, opened = $4, clicked = $5, bounced = $6,
      complained = $7, unsubscribed = $8, delivery_rate = $9, open_rate = $10, click_rate = $11, bounce_rate = $12,
      unsubscribe_rate = $13, final = $14, complaint_rate = $15, computed_at = now()
    WHERE NOT campaign_analytics.final`,

  // $1 subscription status or null, $2 email type or null, $3 users after this id ('0' first), $4 limit.
  // The CRM's user list: active users, keyset-paged by id, each with one status and the email types it applies
  // to, as the list answered before consent was kept per stream: the best status of their streams (subscribed,
  // then pending, then unsubscribed) and the streams at it; with no stream, the status they had then (or subscribed).
  listUsers: `
    SELECT u.id::text, u.email, u.name, u.custom_id AS "customId", c.status AS "subscriptionStatus", c.streams AS "emailTypes"
    FROM users u
    CROSS JOIN LATERAL (
      SELECT best.status, coalesce(array_agg(s.stream ORDER BY s.stream) FILTER (WHERE s.status = best.status), '{}') AS streams
      FROM (SELECT CASE WHEN bool_or(status = 'subscribed') THEN 'subscribed' WHEN bool_or(status = 'pending') THEN 'pending'
                        WHEN bool_or(status = 'unsubscribed') THEN 'unsubscribed' ELSE u.legacy_subscription_status END AS status
            FROM subscriptions WHERE user_id = u.id) best
      LEFT JOIN subscriptions s ON s.user_id = u.id
      GROUP BY best.status
    ) c
    WHERE u.status = 'active' AND ($1::text IS NULL OR c.status = $1) AND ($2::text IS NULL OR $2 = ANY (c.streams))
      AND u.id > $3::bigint
    ORDER BY u.id LIMIT $4`,

  // $1 user id
  selectSubscriptions: `
    SELECT stream, status, reason, source, campaign_id::text AS "campaignId", changed_at AS "changedAt"
    FROM subscriptions WHERE user_id = $1 ORDER BY stream`,

  // $1 user id, $2 streams text[], $3 status, $4 reason, $5 source, $6 campaign id or null.
  // Sets the user's consent for each stream (creating rows as needed); returns the streams that changed.
  // When an unsubscribe from a campaign's link changed anything, the campaign counts one more unsubscribe.
  setConsent: `
    WITH person AS (SELECT id FROM users WHERE id = $1), changed AS (
      INSERT INTO subscriptions (user_id, stream, status, reason, source, campaign_id)
      SELECT p.id, stream, $3, $4, $5, $6 FROM person p, unnest($2::text[]) AS stream
      ON CONFLICT (user_id, stream) DO UPDATE
        SET status = EXCLUDED.status, reason = EXCLUDED.reason, source = EXCLUDED.source,
            campaign_id = EXCLUDED.campaign_id, changed_at = now()
        WHERE subscriptions.status <> EXCLUDED.status
      RETURNING stream
    ), counted AS (
      UPDATE campaign_stats SET unsubscribed = unsubscribed + 1, events_version = events_version + 1, updated_at = now()
      WHERE campaign_id = $6 AND $3 = 'unsubscribed' AND EXISTS (SELECT 1 FROM changed)
    )
    SELECT (SELECT count(*) FROM person)::int AS people, coalesce((SELECT array_agg(stream ORDER BY stream) FROM changed), '{}') AS changed`,

  // $1 emails text[]. Which of them are users, by address.
  selectUserIdsByEmail: `SELECT id::text, lower(email) AS email FROM users WHERE lower(email) = ANY (SELECT lower(e) FROM unnest($1::text[]) e)`,

  // $1 campaign id
  lockCampaign: `SELECT type, audience_snapshot_at, total_recipients FROM campaigns WHERE id = $1 FOR UPDATE`,

  // $1 campaign id. Where an interrupted snapshot stopped: its last ordinal and user.
  selectSnapshotCursor: `
    SELECT ordinal, user_id FROM campaign_recipients WHERE campaign_id = $1 ORDER BY ordinal DESC LIMIT 1`,

  // $1 campaign id, $2 last ordinal so far, $3..$9 as audienceWhere (from the last user id so far), $10 page size.
  // One page of the audience, in user id order.
  snapshotAudiencePage: `
    INSERT INTO campaign_recipients (campaign_id, ordinal, user_id, email, name, custom_id)
    SELECT $1, $2 + row_number() OVER (ORDER BY u.id), u.id, u.email, u.name, u.custom_id
    FROM (
      SELECT id, email, name, custom_id FROM users WHERE ${audienceWhere(3)} ORDER BY id LIMIT $10
    ) u`,

  // The next page of customers a financial run signs links for. $1..$7 as audienceWhere (after: '0'), $8 custom id
  // and $9 user id to page after, $10 limit. Everyone with a report id in report id order, byte by byte as S3 lists
  // keys (a page's reports are listed at about the time the page is signed), each saying whether the audience
  // includes them: only the index decides the page, so the plan needs no statistics (with none, filtering first
  // and sorting cost 300 ms a page of 100,000 users).
  selectReportCustomers: `
    SELECT id::text AS "userId", custom_id AS "customId", (${audienceWhere(1)}) AS included FROM users
    WHERE custom_id IS NOT NULL AND (custom_id COLLATE "C", id) > ($8::text COLLATE "C", $9::bigint)
    ORDER BY custom_id COLLATE "C", id LIMIT $10`,

  // $1..$7 as audienceWhere. How many customers the run considers.
  countReportCustomers: `SELECT count(*)::int AS n FROM users WHERE ${audienceWhere(1)} AND custom_id IS NOT NULL`,

  // $1 campaign id, then arrays of one element per link: $2 user ids, $3 kinds, $4 filenames, $5 labels,
  // $6 urls, $7 expiry times. A retried page signs again and replaces its links.
  upsertReportLinks: `
    INSERT INTO report_links (campaign_id, user_id, kind, filename, label, url, expires_at)
    SELECT $1, l.user_id, l.kind, l.filename, l.label, l.url, l.expires_at
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
      AS l (user_id, kind, filename, label, url, expires_at)
    ON CONFLICT (campaign_id, user_id, kind) DO UPDATE
      SET filename = EXCLUDED.filename, label = EXCLUDED.label, url = EXCLUDED.url, expires_at = EXCLUDED.expires_at`,

  // $1 campaign id, $2 customers considered. Links signed and files missing, from the links themselves.
  upsertReportStats: `
    WITH links AS (SELECT count(*)::int AS n FROM report_links WHERE campaign_id = $1)
    INSERT INTO campaign_stats (campaign_id, report_customers, report_links, report_files_missing)
    SELECT $1, $2, links.n, $2 * 2 - links.n FROM links
    ON CONFLICT (campaign_id) DO UPDATE SET report_customers = EXCLUDED.report_customers,
      report_links = EXCLUDED.report_links, report_files_missing = EXCLUDED.report_files_missing, updated_at = now()
    RETURNING report_customers AS customers, report_links AS links, report_files_missing AS "filesMissing"`,

  // $1 campaign id, $2 user ids bigint[]. The links a batch's recipients get.
  selectBatchLinks: `
    SELECT user_id::text AS "userId", kind, filename, label, url FROM report_links
    WHERE campaign_id = $1 AND user_id = ANY ($2::bigint[])
    ORDER BY user_id, kind`,

  // $1 campaign id, $2 total
  markSnapshotTaken: `
    UPDATE campaigns SET total_recipients = $2, audience_snapshot_at = now(), updated_at = now()
    WHERE id = $1`,

  // $1 campaign id, $2 total
  upsertStatsTotal: `
    INSERT INTO campaign_stats (campaign_id, total) VALUES ($1, $2)
    ON CONFLICT (campaign_id) DO UPDATE SET total = EXCLUDED.total, updated_at = now()`,

  // $1 campaign id, $2 status, $3 the writer's version, $4 why it failed (for 'failed'; else null), $5 who made
  // the change. A write older than the last one applied changes nothing; each applied one is also kept in
  // campaign_transitions, with its actor.
  updateCampaignStatus: `
    WITH prior AS (
      SELECT status FROM campaigns WHERE id = $1
    ), updated AS (
      UPDATE campaigns SET
        status = $2,
        status_version = $3,
        failure_reason = CASE WHEN $2 = 'failed' THEN $4 ELSE failure_reason END,
        attention_reason = CASE WHEN $2 = 'needs-attention' THEN $4 END,
        send_started_at = CASE WHEN $2 = 'sending' THEN coalesce(send_started_at, now()) ELSE send_started_at END,
        send_finished_at = CASE WHEN $2 IN ('sent', 'cancelled', 'failed') AND send_started_at IS NOT NULL
                                THEN coalesce(send_finished_at, now()) ELSE send_finished_at END,
        updated_at = now()
      WHERE id = $1 AND status_version < $3
      RETURNING id
    ), logged AS (
      -- The same status written again is no transition (but the first is, and a new reason to wait for an operator).
      INSERT INTO campaign_transitions (campaign_id, status, version, actor)
      SELECT id, $2, $3, $5 FROM updated
      WHERE (SELECT status FROM prior) IS DISTINCT FROM $2 OR $2 = 'needs-attention'
         OR NOT EXISTS (SELECT 1 FROM campaign_transitions WHERE campaign_id = $1)
    )
    SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = $1) AS found, EXISTS (SELECT 1 FROM updated) AS updated`,

  // $1 campaign id. A send's progress as Aurora has it: the campaign's status, counters and ledger.
  selectSendProgress: `
    SELECT c.status, c.attention_reason AS "attention", c.send_options AS "sendOptions", c.sending_domain AS "sendingDomain",
           c.audience_snapshot_at IS NOT NULL AS "audienceComplete",
           coalesce(s.total, 0) AS total, coalesce(s.sent, 0) AS sent, coalesce(s.failed, 0) AS failed,
           coalesce(l.in_flight, 0)::int AS "inFlight", coalesce(l.batches_started, 0)::int AS "batchesStarted",
           coalesce(l.batches_done, 0)::int AS "batchesDone", coalesce(l.parked, '{}') AS "parkedBatches",
           coalesce(l.unknown, '{}') AS "unknownBatches"
    FROM campaigns c
    LEFT JOIN campaign_stats s ON s.campaign_id = c.id
    LEFT JOIN LATERAL (
      SELECT sum(b.in_flight) AS in_flight, count(*) AS batches_started, count(*) FILTER (WHERE b.done) AS batches_done,
             array_agg(b.batch_no ORDER BY b.batch_no) FILTER (WHERE b.parked) AS parked,
             array_agg(b.batch_no ORDER BY b.batch_no) FILTER (WHERE b.unknown) AS unknown
      FROM (
        SELECT batch_no,
               sum(coalesce(message_count, recipient_count)) FILTER (WHERE state = 'sending' AND parked_at IS NULL) AS in_flight,
               bool_and(state IN ('accepted', 'failed', 'split')) AS done,
               bool_or(state = 'sending' AND parked_at IS NOT NULL) AS parked,
               bool_or(state = 'unknown') AS unknown
        FROM send_ledger WHERE campaign_id = c.id GROUP BY batch_no
      ) b
    ) l ON true
    WHERE c.id = $1`,

  // $1 campaign id
  selectTransitions: `SELECT status, at, actor FROM campaign_transitions WHERE campaign_id = $1 ORDER BY version`,

  // $1, $2 the year and month just closed. Campaigns by status, the Firestore projection's lag (its oldest
  // unwritten change), and whether that month's statements finished sending.
  selectPipelineGauges: `
    SELECT (SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*)::int AS n FROM campaigns GROUP BY status) s) AS by_status,
           coalesce((SELECT extract(epoch FROM now() - min(updated_at)) FROM campaign_stats WHERE events_version > projected_version), 0)::float8 AS lag,
           EXISTS (SELECT 1 FROM campaigns WHERE type = 'financial' AND report_year = $1 AND report_month = $2
                   AND status IN ('sent', 'tracking', 'analysed', 'archived')) AS sent`,

  // $1 campaign id
  selectStats: `SELECT total, sent, failed, updated_at AS "updatedAt" FROM campaign_stats WHERE campaign_id = $1`,

  // $1 budget (a domain, or campaign:<id>), $2 its rate per second, $3 messages. Reserves the next slot for $3
  // messages: slots follow one another at the budget's current rate (rate x factor), so every campaign and worker
  // sending on the budget shares it. Returns how long to wait for the slot, by the database's clock.
  reserveRateSlot: `
    INSERT INTO send_rate_budgets AS b (budget, rate_per_second, next_slot_at, reserved)
    VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::float8 / $2::float8), $3)
    ON CONFLICT (budget) DO UPDATE SET
      rate_per_second = EXCLUDED.rate_per_second,
      next_slot_at = greatest(b.next_slot_at, clock_timestamp())
                     + make_interval(secs => $3::float8 / (EXCLUDED.rate_per_second * b.factor)),
      reserved = b.reserved + $3,
      updated_at = now()
    RETURNING greatest(0, ceil(extract(epoch FROM b.next_slot_at - clock_timestamp()) * 1000
                               - $3::float8 * 1000 / (b.rate_per_second * b.factor)))::int AS "waitMs",
              b.factor`,

  // $1 budget, $2 Mailgun's Retry-After in ms. A 429: halve the budget's rate (at most once per Retry-After,
  // however many batches met it; never below 1/32) and start no slot before the Retry-After has passed.
  slowRateBudget: `
    UPDATE send_rate_budgets SET
      factor = CASE WHEN rate_limited_at > clock_timestamp() - make_interval(secs => $2::float8 / 1000) THEN factor
                    ELSE greatest(1.0 / 32, factor / 2) END,
      next_slot_at = greatest(next_slot_at, clock_timestamp() + make_interval(secs => $2::float8 / 1000)),
      rate_limits = rate_limits + 1, rate_limited_at = clock_timestamp(), updated_at = now()
    WHERE budget = $1`,

  // $1 budget. A clean batch after a slowdown brings back a tenth of the configured rate.
  recoverRateBudget: `
    UPDATE send_rate_budgets SET factor = least(1, factor + 0.1), updated_at = now() WHERE budget = $1 AND factor < 1`,

  // $1 budget
  selectRateBudget: `
    SELECT budget, rate_per_second AS "ratePerSecond", rate_per_second * factor AS "currentPerSecond",
           rate_limits::int AS "rateLimits", rate_limited_at AS "rateLimitedAt"
    FROM send_rate_budgets WHERE budget = $1`,

  // $1 campaign id, $2 first ordinal, $3 last ordinal. Recipients not already failed.
  selectBatchRecipients: `
    SELECT ordinal, user_id, email, name, custom_id FROM campaign_recipients
    WHERE campaign_id = $1 AND ordinal BETWEEN $2 AND $3 AND failed_at IS NULL
    ORDER BY ordinal`,

  // $1 campaign id, $2 ordinals int[], $3 reason, $4 suppress the users too (boolean).
  // Each recipient is failed (and counted in campaign_stats) once.
  failRecipients: `
    WITH failed AS (
      UPDATE campaign_recipients SET failed_at = now(), failure_reason = $3
      WHERE campaign_id = $1 AND ordinal = ANY ($2::int[]) AND failed_at IS NULL
      RETURNING user_id
    ), suppressed AS (
      UPDATE users u SET suppressed_at = now(), suppression_reason = $3, updated_at = now()
      FROM failed WHERE $4::boolean AND u.id = failed.user_id AND u.suppressed_at IS NULL
      RETURNING u.id
    )
    UPDATE campaign_stats SET failed = failed + (SELECT count(*) FROM failed), updated_at = now()
    WHERE campaign_id = $1
    RETURNING (SELECT count(*) FROM failed)::int AS failed, (SELECT count(*) FROM suppressed)::int AS suppressed`,

  // $1 campaign id, $2 limit
  selectFailedRecipients: `
    SELECT ordinal, user_id AS "userId", email, failure_reason AS reason, failed_at AS "failedAt"
    FROM campaign_recipients WHERE campaign_id = $1 AND failed_at IS NOT NULL
    ORDER BY ordinal LIMIT $2`,

  // $1 campaign id, $2 batch no, $3 part, $4 parent part or null, $5 first ordinal, $6 last ordinal.
  // The no-op update makes RETURNING give back an existing row too.
  ensureLedgerPart: `
    INSERT INTO send_ledger (campaign_id, batch_no, part, parent_part, first_ordinal, last_ordinal, recipient_count)
    VALUES ($1, $2, $3, $4, $5::int, $6::int, $6::int - $5::int + 1)
    ON CONFLICT (campaign_id, batch_no, part) DO UPDATE SET batch_no = EXCLUDED.batch_no
    RETURNING ${LEDGER_COLUMNS}`,

  // $1 campaign id, $2 batch no. Every part of a batch, with the database's clock.
  selectBatchParts: `
    SELECT ${LEDGER_COLUMNS}, now() AS db_now FROM send_ledger
    WHERE campaign_id = $1 AND batch_no = $2
    ORDER BY first_ordinal, last_ordinal DESC`,

  // $1 campaign id, $2 batch no, $3 part, $4 attempts as this attempt read them, $5 recipients in the message.
  // Compare-and-set: if another attempt moved the row meanwhile, nothing is updated.
  claimLedgerPart: `
    UPDATE send_ledger SET state = 'sending', attempts = attempts + 1, message_count = $5,
      first_attempt_at = coalesce(first_attempt_at, now()), last_attempt_at = now(),
      probe_message_id = NULL, probe_sent_at = NULL, parked_at = NULL
    WHERE campaign_id = $1 AND batch_no = $2 AND part = $3 AND state = 'pending' AND attempts = $4
    RETURNING attempts`,

  // $1 campaign id, $2 batch no. Its parts of unknown outcome are parked: their proof is being sought.
  markBatchParked: `
    UPDATE send_ledger SET parked_at = coalesce(parked_at, now())
    WHERE campaign_id = $1 AND batch_no = $2 AND state = 'sending'`,

  // $1 campaign id, $2 batch no, $3 part, $4 mailgun message id or null, $5 resolved_by (null keeps an earlier one).
  // Counts the part's recipients as sent exactly once.
  markLedgerAccepted: `
    WITH done AS (
      UPDATE send_ledger SET state = 'accepted', mailgun_message_id = $4, resolved_by = coalesce($5, resolved_by), last_error = NULL,
        finished_at = now()
      WHERE campaign_id = $1 AND batch_no = $2 AND part = $3 AND state IN ('sending', 'unknown')
      RETURNING campaign_id, first_ordinal, last_ordinal, coalesce(message_count, recipient_count) AS recipients
    )
    UPDATE campaign_stats s SET sent = s.sent + done.recipients - (
        -- A retry round's resends (Mailgun took their first message, which then failed temporarily) are counted already.
        SELECT count(*) FROM campaign_recipients r
        WHERE r.campaign_id = done.campaign_id AND r.resend AND r.ordinal BETWEEN done.first_ordinal AND done.last_ordinal
          AND r.failed_at IS NULL)::int,
      updated_at = now()
    FROM done WHERE s.campaign_id = done.campaign_id`,

  // $1 campaign id, $2 batch no, $3 part, $4 error, $5 suppress the users too (boolean).
  // The part's recipients not already failed are failed, and counted, exactly once.
  markLedgerFailed: `
    WITH done AS (
      UPDATE send_ledger SET state = 'failed', last_error = $4, finished_at = now()
      WHERE campaign_id = $1 AND batch_no = $2 AND part = $3 AND state = 'sending'
      RETURNING campaign_id, first_ordinal, last_ordinal
    ), failed AS (
      UPDATE campaign_recipients r SET failed_at = now(), failure_reason = $4
      FROM done
      WHERE r.campaign_id = done.campaign_id AND r.ordinal BETWEEN done.first_ordinal AND done.last_ordinal
        AND r.failed_at IS NULL
      RETURNING r.user_id
    ), suppressed AS (
      UPDATE users u SET suppressed_at = now(), suppression_reason = $4, updated_at = now()
      FROM failed WHERE $5::boolean AND u.id = failed.user_id AND u.suppressed_at IS NULL
    )
    UPDATE campaign_stats s SET failed = s.failed + (SELECT count(*) FROM failed), updated_at = now()
    FROM done WHERE s.campaign_id = done.campaign_id`,

  // $1 campaign id, $2 batch no, $3 part, $4 attempt that was refused, $5 error,
  // $6/$7/$8 and $9/$10/$11: part name, first and last ordinal of the two halves.
  // The part becomes 'split' and its halves appear in one statement, so a crash never leaves one without the other.
  splitLedgerPart: `
    WITH split AS (
      UPDATE send_ledger SET state = 'split', last_error = $5, finished_at = now()
      WHERE campaign_id = $1 AND batch_no = $2 AND part = $3 AND state = 'sending' AND attempts = $4
      RETURNING campaign_id, batch_no, part
    )
    INSERT INTO send_ledger (campaign_id, batch_no, part, parent_part, first_ordinal, last_ordinal, recipient_count)
    SELECT split.campaign_id, split.batch_no, half.part, split.part, half.first, half.last, half.last - half.first + 1
    FROM split, (VALUES ($6::text, $7::int, $8::int), ($9::text, $10::int, $11::int)) AS half (part, first, last)
    ON CONFLICT (campaign_id, batch_no, part) DO NOTHING
    RETURNING part`,

  // $1 campaign id, $2 batch no, $3 part, $4 error, $5 retry-after ms Mailgun asked for, $6 the attempt that failed.
  // Only that attempt's own 'sending' may be undone: a later attempt may be sending by now.
  markLedgerNotSent: `
    UPDATE send_ledger SET state = 'pending', last_error = $4, rate_limited_ms = rate_limited_ms + $5
    WHERE campaign_id = $1 AND batch_no = $2 AND part = $3 AND state = 'sending' AND attempts = $6`,

  // $1 campaign id, $2 batch no, $3 part, $4 attempts as read, $5 reason
  markLedgerUnknown: `
    UPDATE send_ledger SET state = 'unknown', last_error = $5
    WHERE campaign_id = $1 AND batch_no = $2 AND part = $3 AND state = 'sending' AND attempts = $4`,

  // $1 campaign id, $2 batch no, $3 reason. An operator says the unknown parts of a batch were not sent.
  markUnknownForResend: `
    UPDATE send_ledger SET state = 'pending', resolved_by = 'operator', last_error = $3
    WHERE campaign_id = $1 AND batch_no = $2 AND state = 'unknown'`,

  // $1 campaign id, $2 batch no
  selectUnknownParts: `SELECT part FROM send_ledger WHERE campaign_id = $1 AND batch_no = $2 AND state = 'unknown'`,

  // $1 campaign id, $2 batch no, $3 part, $4 attempts as read, $5 probe message id
  recordProbe: `
    UPDATE send_ledger SET probe_message_id = $5, probe_sent_at = now()
    WHERE campaign_id = $1 AND batch_no = $2 AND part = $3 AND state = 'sending' AND attempts = $4`,

  // $1 campaign id, $2 batch no, $3 part
  countOutcomeCheck: `
    UPDATE send_ledger SET outcome_checks = outcome_checks + 1 WHERE campaign_id = $1 AND batch_no = $2 AND part = $3`,

  // $1 campaign id, $2 batch no, $3 part, $4 error
  noteLedgerError: `
    UPDATE send_ledger SET last_error = $4 WHERE campaign_id = $1 AND batch_no = $2 AND part = $3`,

  // $1 campaign id, $2 time. The earliest part accepted from a request that began after $2.
  selectLaterAcceptedPart: `
    SELECT mailgun_message_id AS "messageId", last_attempt_at AS "attemptAt" FROM send_ledger
    WHERE campaign_id = $1 AND state = 'accepted' AND last_attempt_at > $2 AND mailgun_message_id IS NOT NULL
    ORDER BY last_attempt_at LIMIT 1`,

  // $1 campaign id, $2 batch no, $3 first ordinal, $4 last ordinal of the batch
  selectBatchStatus: `
    SELECT
      coalesce(sum(coalesce(message_count, recipient_count)) FILTER (WHERE state = 'accepted'), 0)::int AS sent,
      (SELECT count(*) FROM campaign_recipients
        WHERE campaign_id = $1 AND ordinal BETWEEN $3 AND $4 AND failed_at IS NOT NULL)::int AS failed,
      count(*) FILTER (WHERE state = 'pending')::int AS "pendingParts",
      count(*) FILTER (WHERE state = 'sending')::int AS "sendingParts",
      count(*) FILTER (WHERE state = 'unknown')::int AS "unknownParts",
      coalesce(sum(rate_limited_ms), 0)::int AS "rateLimitedMs"
    FROM send_ledger WHERE campaign_id = $1 AND batch_no = $2`,

  // $1 campaign id. Split parts are structure, not sends: left out.
  selectLedgerSummary: `
    SELECT state, count(*)::int AS parts, coalesce(sum(coalesce(message_count, recipient_count)), 0)::int AS recipients
    FROM send_ledger WHERE campaign_id = $1 AND state <> 'split' GROUP BY state ORDER BY state`,

  // $1 campaign id. Parts whose outcome is not known yet: parked (sending) or waiting for an operator (unknown).
  selectUnsettledParts: `
    SELECT batch_no AS "batchNo", part, state, first_ordinal AS "firstOrdinal", last_ordinal AS "lastOrdinal",
           message_count AS recipients, attempts, last_attempt_at AS "lastAttemptAt", last_error AS "lastError"
    FROM send_ledger WHERE campaign_id = $1 AND state IN ('sending', 'unknown')
    ORDER BY batch_no, first_ordinal`,

  // Mailgun events, one array per column ($1 tokens (null: not a webhook), $2 event ids, $3 events,
  // $4 campaign ids (null: none), $5 recipients (lower case), $6 message ids, $7 times, $8 urls, $9 reasons),
  // $10 source, $11 the streams each opt-out event stops, by its message's stream (db/events.ts). A token seen before makes its event a replay; an event id seen
  // before, a duplicate.
  // Counter rows are locked in campaign id order, so concurrent batches cannot deadlock on them.
  recordEvents: `
    WITH input AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                           $7::timestamptz[], $8::text[], $9::text[])
        WITH ORDINALITY AS i(token, event_id, event, campaign_ref, recipient, message_id, occurred_at, url, reason, ord)
    ), fresh_tokens AS (
      INSERT INTO webhook_tokens (token) SELECT token FROM input WHERE token IS NOT NULL
      ON CONFLICT DO NOTHING RETURNING token
    ), resolved AS (
      SELECT i.*, c.id AS campaign_id, u.id AS user_id
      FROM input i
      LEFT JOIN campaigns c ON c.id = i.campaign_ref
      LEFT JOIN users u ON lower(u.email) = i.recipient
      WHERE i.token IS NULL OR i.token IN (SELECT token FROM fresh_tokens)
    ), inserted AS (
      INSERT INTO mailgun_events (event_id, event, campaign_id, user_id, recipient, message_id, occurred_at, reason, source)
      SELECT event_id, event, campaign_id, user_id, recipient, message_id, occurred_at, reason, $10 FROM resolved
      ON CONFLICT (event_id) DO NOTHING
      RETURNING event_id, event, campaign_id, user_id, recipient, occurred_at
    ), clicks AS (
      INSERT INTO click_events (event_id, campaign_id, user_id, url, clicked_at)
      SELECT ins.event_id, ins.campaign_id, ins.user_id, r.url, ins.occurred_at
      FROM inserted ins JOIN resolved r USING (event_id) WHERE ins.event = 'clicked'
    ), firsts AS (
      INSERT INTO campaign_engagement (campaign_id, recipient, kind, first_at)
      SELECT campaign_id, recipient, event, min(occurred_at) FROM inserted
      WHERE campaign_id IS NOT NULL AND event IN ('opened', 'clicked')
      GROUP BY campaign_id, recipient, event ORDER BY campaign_id, recipient, event
      ON CONFLICT DO NOTHING RETURNING campaign_id, kind
    ), opted_out AS (
      -- README, "Streams and consent", as common/streams.ts decides it ($11: event -> message's stream -> streams).
      INSERT INTO subscriptions (user_id, stream, status, reason, source, campaign_id, changed_at)
      SELECT DISTINCT ON (o.user_id, o.stream) o.user_id, o.stream, 'unsubscribed', o.event, 'mailgun', o.campaign_id, o.occurred_at
      FROM (
        SELECT ins.user_id, st.stream, ins.event, ins.campaign_id, ins.occurred_at
        FROM inserted ins LEFT JOIN campaigns c ON c.id = ins.campaign_id
        CROSS JOIN LATERAL jsonb_array_elements_text($11::jsonb -> ins.event -> coalesce(c.type, '')) AS st(stream)
        WHERE ins.user_id IS NOT NULL AND ins.event IN ('unsubscribed', 'complained')
      ) o
      ORDER BY o.user_id, o.stream, o.event = 'complained' DESC, o.occurred_at
      ON CONFLICT (user_id, stream) DO UPDATE
        SET status = 'unsubscribed', reason = EXCLUDED.reason, source = EXCLUDED.source,
            campaign_id = EXCLUDED.campaign_id, changed_at = EXCLUDED.changed_at
        WHERE subscriptions.status <> 'unsubscribed' OR (EXCLUDED.reason = 'complained' AND subscriptions.reason IS DISTINCT FROM 'complained')
    ), bounced AS (
      -- A permanent bounce is about the address: no stream reaches it until an operator lifts it.
      UPDATE users u SET suppressed_at = s.occurred_at, suppression_reason = 'bounced', updated_at = now()
      FROM (SELECT DISTINCT ON (user_id) user_id, occurred_at FROM inserted
            WHERE user_id IS NOT NULL AND event = 'permanent_fail' ORDER BY user_id, occurred_at) s
      WHERE u.id = s.user_id AND u.suppressed_at IS NULL
    ), uniques AS (
      SELECT campaign_id, count(*) FILTER (WHERE kind = 'opened') AS opened, count(*) FILTER (WHERE kind = 'clicked') AS clicked
      FROM firsts GROUP BY campaign_id
    ), counts AS (
      SELECT campaign_id,
             count(*) FILTER (WHERE event = 'delivered') AS delivered,
             count(*) FILTER (WHERE event = 'opened') AS opened,
             count(*) FILTER (WHERE event = 'clicked') AS clicked,
             count(*) FILTER (WHERE event = 'permanent_fail') AS bounced,
             count(*) FILTER (WHERE event = 'complained') AS complained,
             count(*) FILTER (WHERE event = 'unsubscribed') AS unsubscribed,
             count(*) FILTER (WHERE event = 'temporary_fail') AS temporary_failed
      FROM inserted WHERE campaign_id IS NOT NULL GROUP BY campaign_id
    ), stats AS (
      INSERT INTO campaign_stats (campaign_id, delivered, opened, unique_opened, clicked, unique_clicked, bounced,
                                  complained, unsubscribed, temporary_failed, events_version)
      SELECT c.campaign_id, c.delivered, c.opened, coalesce(u.opened, 0), c.clicked, coalesce(u.clicked, 0), c.bounced,
             c.complained, c.unsubscribed, c.temporary_failed, 1
      FROM counts c LEFT JOIN uniques u USING (campaign_id) ORDER BY c.campaign_id
      ON CONFLICT (campaign_id) DO UPDATE SET
        delivered = campaign_stats.delivered + EXCLUDED.delivered,
        opened = campaign_stats.opened + EXCLUDED.opened,
        unique_opened = campaign_stats.unique_opened + EXCLUDED.unique_opened,
        clicked = campaign_stats.clicked + EXCLUDED.clicked,
        unique_clicked = campaign_stats.unique_clicked + EXCLUDED.unique_clicked,
        bounced = campaign_stats.bounced + EXCLUDED.bounced,
        complained = campaign_stats.complained + EXCLUDED.complained,
        unsubscribed = campaign_stats.unsubscribed + EXCLUDED.unsubscribed,
        temporary_failed = campaign_stats.temporary_failed + EXCLUDED.temporary_failed,
        events_version = campaign_stats.events_version + 1,
        updated_at = now()
    )
    SELECT i.ord,
           CASE WHEN i.token IS NOT NULL AND i.token NOT IN (SELECT token FROM fresh_tokens) THEN 'replay'
                WHEN i.event_id IN (SELECT event_id FROM inserted) THEN 'recorded'
                ELSE 'duplicate' END AS outcome
    FROM input i`,

  // $1 tokens seen before this time are forgotten.
  pruneWebhookTokens: `DELETE FROM webhook_tokens WHERE seen_at < $1`,

  // $1 at most this many campaigns, $2 only this campaign (or null). Counters the Firestore projection
  // has not written yet, with the version they are at; the caller holds the projection lock.
  selectUnprojected: `
    SELECT ${COUNTER_COLUMNS}, s.events_version::text AS version, coalesce(a.final, false) AS final
    FROM campaign_stats s LEFT JOIN campaign_analytics a USING (campaign_id)
    WHERE s.events_version > s.projected_version AND ($2::bigint IS NULL OR s.campaign_id = $2)
    ORDER BY s.campaign_id LIMIT $1`,

  // $1 the lock's key. Held until the transaction ends; the first waits for it, the second gives up at once.
  lockProjection: `SELECT pg_advisory_xact_lock($1), true AS locked`,
  tryLockProjection: `SELECT pg_try_advisory_xact_lock($1) AS locked`,

  // $1 campaign ids, $2 the versions written.
  markProjected: `
    UPDATE campaign_stats s SET projected_version = p.version
    FROM unnest($1::bigint[], $2::bigint[]) AS p(campaign_id, version)
    WHERE s.campaign_id = p.campaign_id AND s.projected_version < p.version`,

  // $1 campaign id: its counters changed outside the event path (the send, an analysis); project them again.
  markUnprojected: `UPDATE campaign_stats SET events_version = events_version + 1 WHERE campaign_id = $1`,

  // $1 campaign id.
  selectCounters: `
    SELECT ${COUNTER_COLUMNS}, coalesce(a.final, false) AS final, s.updated_at AS "updatedAt"
    FROM campaign_stats s LEFT JOIN campaign_analytics a USING (campaign_id)
    WHERE s.campaign_id = $1`,

  // $1 from, $2 to, $3 campaign type or null. Campaigns whose send started in [from, to), summed.
  selectAnalyticsSummary: `
    SELECT count(*)::int AS campaigns, coalesce(sum(s.total), 0)::int AS total, coalesce(sum(s.sent), 0)::int AS sent,
           coalesce(sum(s.failed), 0)::int AS failed, coalesce(sum(s.delivered), 0)::int AS delivered,
           coalesce(sum(s.opened), 0)::int AS opened, coalesce(sum(s.unique_opened), 0)::int AS "uniqueOpened",
           coalesce(sum(s.clicked), 0)::int AS clicked, coalesce(sum(s.unique_clicked), 0)::int AS "uniqueClicked",
           coalesce(sum(s.bounced), 0)::int AS bounced, coalesce(sum(s.complained), 0)::int AS complained,
           coalesce(sum(s.unsubscribed), 0)::int AS unsubscribed, coalesce(sum(s.temporary_failed), 0)::int AS "temporaryFailed"
    FROM campaigns c LEFT JOIN campaign_stats s ON s.campaign_id = c.id
    WHERE c.send_started_at >= $1 AND c.send_started_at < $2 AND ($3::text IS NULL OR c.type = $3)`,

  // $1 reason or null, $2 users after this id ('0' first), $3 limit.
  listSuppressions: `
    SELECT id::text, email, suppression_reason AS reason, suppressed_at AS "suppressedAt"
    FROM users WHERE suppressed_at IS NOT NULL AND ($1::text IS NULL OR suppression_reason = $1) AND id > $2::bigint
    ORDER BY id LIMIT $3`,

  // $1 user id or null, $2 email or null. Lifts the address's suppression (a bounce, a refused address)
  // and the streams a complaint stopped; streams the person unsubscribed from stay as they chose.
  // The user, whether anything was lifted, the streams given back and those kept.
  liftSuppression: `
    WITH target AS (
      SELECT id, suppressed_at IS NOT NULL AS suppressed FROM users
      WHERE ($1::bigint IS NOT NULL AND id = $1) OR ($2::text IS NOT NULL AND lower(email) = lower($2))
      FOR UPDATE
    ), address AS (
      UPDATE users u SET suppressed_at = NULL, suppression_reason = NULL, updated_at = now()
      FROM target t WHERE u.id = t.id AND t.suppressed RETURNING u.id
    ), complaints AS (
      UPDATE subscriptions s SET status = 'subscribed', reason = 'lifted', source = 'operator', campaign_id = NULL, changed_at = now()
      FROM target t WHERE s.user_id = t.id AND s.status = 'unsubscribed' AND s.reason = 'complained'
      RETURNING s.stream
    )
    SELECT t.id::text AS "userId",
           t.suppressed OR EXISTS (SELECT 1 FROM complaints) AS lifted,
           coalesce((SELECT array_agg(stream ORDER BY stream) FROM complaints), '{}') AS "streamsLifted",
           coalesce((SELECT array_agg(s.stream ORDER BY s.stream) FROM subscriptions s
                     WHERE s.user_id = t.id AND s.status = 'unsubscribed' AND s.reason IS DISTINCT FROM 'complained'), '{}') AS "unsubscribedKept"
    FROM target t`,

  // $1 campaign id. Where reconciliation with Mailgun's logs starts: where it last got to, or a
  // minute before the send started (null: the campaign has not sent).
  selectReconcileStart: `
    SELECT coalesce(s.reconciled_until, c.send_started_at - interval '1 minute') AS since
    FROM campaigns c LEFT JOIN campaign_stats s ON s.campaign_id = c.id
    WHERE c.id = $1 AND c.send_started_at IS NOT NULL`,

  // $1 campaign id, $2 the next reconciliation starts here.
  updateReconciledUntil: `
    UPDATE campaign_stats SET reconciled_until = greatest(coalesce(reconciled_until, $2), $2) WHERE campaign_id = $1`,
} as const;
