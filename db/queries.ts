/**
 * Every SQL statement the pipeline runs, by name. Parameters are positional;
 * each comment lists them.
 */
export const sql = {
  // $1 name, $2 type, $3 subject, $4 body_html, $5 body_text, $6 from_address, $7 audience jsonb
  insertCampaign: `
    INSERT INTO campaigns (name, type, subject, body_html, body_text, from_address, audience)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING id`,

  // $1 campaign id
  selectCampaign: `
    SELECT id, name, type, status, subject, body_html, body_text, from_address, audience,
           total_recipients, audience_snapshot_at, send_started_at, send_finished_at
    FROM campaigns WHERE id = $1`,

  // $1 campaign id
  lockCampaign: `SELECT audience_snapshot_at, total_recipients FROM campaigns WHERE id = $1 FOR UPDATE`,

  // $1 campaign id, $2 subscription statuses text[], $3 email type or null, $4 limit or null
  snapshotAudience: `
    INSERT INTO campaign_recipients (campaign_id, ordinal, user_id, email, name, custom_id)
    SELECT $1, row_number() OVER (ORDER BY u.id), u.id, u.email, u.name, u.custom_id
    FROM (
      SELECT id, email, name, custom_id FROM users
      WHERE status = 'active'
        AND suppressed_at IS NULL
        AND subscription_status = ANY ($2::text[])
        AND ($3::text IS NULL OR $3::text = ANY (email_types))
      ORDER BY id
      LIMIT $4
    ) u`,

  // $1 campaign id, $2 total
  markSnapshotTaken: `
    UPDATE campaigns SET total_recipients = $2, audience_snapshot_at = now(), updated_at = now()
    WHERE id = $1`,

  // $1 campaign id, $2 total
  upsertStatsTotal: `
    INSERT INTO campaign_stats (campaign_id, total) VALUES ($1, $2)
    ON CONFLICT (campaign_id) DO UPDATE SET total = EXCLUDED.total, updated_at = now()`,

  // $1 campaign id, $2 status
  updateCampaignStatus: `
    UPDATE campaigns SET
      status = $2,
      send_started_at = CASE WHEN $2 = 'sending' THEN coalesce(send_started_at, now()) ELSE send_started_at END,
      send_finished_at = CASE WHEN $2 IN ('sent', 'cancelled', 'failed') THEN now() ELSE send_finished_at END,
      updated_at = now()
    WHERE id = $1
    RETURNING id`,

  // $1 campaign id
  selectStats: `SELECT total, sent, failed, updated_at AS "updatedAt" FROM campaign_stats WHERE campaign_id = $1`,

  // $1 campaign id, $2 first ordinal, $3 last ordinal
  selectBatchRecipients: `
    SELECT ordinal, user_id, email, name, custom_id FROM campaign_recipients
    WHERE campaign_id = $1 AND ordinal BETWEEN $2 AND $3
    ORDER BY ordinal`,

  // $1 campaign id, $2 batch no, $3 first ordinal, $4 last ordinal, $5 recipient count.
  // The no-op update makes RETURNING give back an existing row too.
  ensureLedgerRow: `
    INSERT INTO send_ledger (campaign_id, batch_no, first_ordinal, last_ordinal, recipient_count)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (campaign_id, batch_no) DO UPDATE SET batch_no = EXCLUDED.batch_no
    RETURNING state, attempts, mailgun_message_id, last_error, rate_limited_ms::int AS rate_limited_ms,
              first_ordinal, last_ordinal, first_attempt_at, last_attempt_at`,

  // $1 campaign id, $2 batch no, $3 state and $4 attempts as this attempt read them.
  // Compare-and-set: if another attempt moved the row meanwhile, nothing is updated.
  markLedgerSending: `
    UPDATE send_ledger SET state = 'sending', attempts = attempts + 1,
      first_attempt_at = coalesce(first_attempt_at, now()), last_attempt_at = now()
    WHERE campaign_id = $1 AND batch_no = $2 AND state = $3 AND attempts = $4 AND state IN ('pending', 'sending')
    RETURNING attempts`,

  // $1 campaign id, $2 batch no, $3 mailgun message id. Counts the batch as sent exactly once.
  markLedgerAccepted: `
    WITH done AS (
      UPDATE send_ledger SET state = 'accepted', mailgun_message_id = $3, last_error = NULL, finished_at = now()
      WHERE campaign_id = $1 AND batch_no = $2 AND state IN ('pending', 'sending')
      RETURNING campaign_id, recipient_count
    )
    UPDATE campaign_stats s SET sent = s.sent + done.recipient_count, updated_at = now()
    FROM done WHERE s.campaign_id = done.campaign_id`,

  // $1 campaign id, $2 batch no, $3 error. Counts the batch as failed exactly once.
  markLedgerFailed: `
    WITH done AS (
      UPDATE send_ledger SET state = 'failed', last_error = $3, finished_at = now()
      WHERE campaign_id = $1 AND batch_no = $2 AND state IN ('pending', 'sending')
      RETURNING campaign_id, recipient_count
    )
    UPDATE campaign_stats s SET failed = s.failed + done.recipient_count, updated_at = now()
    FROM done WHERE s.campaign_id = done.campaign_id`,

  // $1 campaign id, $2 batch no, $3 error, $4 retry-after ms Mailgun asked for, $5 the attempt that failed.
  // Only that attempt's own 'sending' may be undone: a later attempt may be sending by now.
  markLedgerNotSent: `
    UPDATE send_ledger SET state = 'pending', last_error = $3, rate_limited_ms = rate_limited_ms + $4
    WHERE campaign_id = $1 AND batch_no = $2 AND state = 'sending' AND attempts = $5`,

  // $1 campaign id, $2 batch no
  countOutcomeCheck: `
    UPDATE send_ledger SET outcome_checks = outcome_checks + 1 WHERE campaign_id = $1 AND batch_no = $2`,

  // $1 campaign id, $2 batch no, $3 error
  noteLedgerError: `
    UPDATE send_ledger SET last_error = $3 WHERE campaign_id = $1 AND batch_no = $2`,

  // $1 campaign id
  selectLedgerSummary: `
    SELECT state, count(*)::int AS batches, coalesce(sum(recipient_count), 0)::int AS recipients
    FROM send_ledger WHERE campaign_id = $1 GROUP BY state`,
} as const;
