-- Up Migration

-- A batch Mailgun refuses for a bad address is split into parts, each with its own
-- row (and marker); '' is the whole batch.
ALTER TABLE send_ledger ADD COLUMN part text NOT NULL DEFAULT '';
ALTER TABLE send_ledger ADD COLUMN parent_part text;
ALTER TABLE send_ledger DROP CONSTRAINT send_ledger_pkey;
ALTER TABLE send_ledger ADD PRIMARY KEY (campaign_id, batch_no, part);
ALTER TABLE send_ledger DROP CONSTRAINT send_ledger_state_check;
ALTER TABLE send_ledger ADD CONSTRAINT send_ledger_state_check
  CHECK (state IN ('pending', 'sending', 'accepted', 'failed', 'split', 'unknown'));
-- Recipients in the message this part sends: its range minus invalid addresses. Set when claimed.
ALTER TABLE send_ledger ADD COLUMN message_count integer;
-- How an unknown outcome was settled: found in (or proven absent from) Mailgun's logs, or by an operator.
ALTER TABLE send_ledger ADD COLUMN resolved_by text CHECK (resolved_by IN ('lookup', 'operator'));
-- A test-mode message sent after an ambiguous attempt: once Mailgun's logs show it, they have caught up.
ALTER TABLE send_ledger ADD COLUMN probe_message_id text;
ALTER TABLE send_ledger ADD COLUMN probe_sent_at timestamptz;
-- Finding a later accepted part, whose visibility proves the logs have caught up.
CREATE INDEX send_ledger_accepted_idx ON send_ledger (campaign_id, last_attempt_at) WHERE state = 'accepted';

-- Recipients who will not get the campaign (invalid address, refused part), with the reason.
ALTER TABLE campaign_recipients ADD COLUMN failed_at timestamptz;
ALTER TABLE campaign_recipients ADD COLUMN failure_reason text;
CREATE INDEX campaign_recipients_failed_idx ON campaign_recipients (campaign_id, ordinal) WHERE failed_at IS NOT NULL;

-- Status writes carry the workflow's counter, so a late write from a dead worker cannot undo a newer one.
ALTER TABLE campaigns ADD COLUMN status_version bigint NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE campaigns DROP COLUMN status_version;
DROP INDEX campaign_recipients_failed_idx;
ALTER TABLE campaign_recipients DROP COLUMN failure_reason;
ALTER TABLE campaign_recipients DROP COLUMN failed_at;
DROP INDEX send_ledger_accepted_idx;
DELETE FROM send_ledger WHERE part <> '';
ALTER TABLE send_ledger DROP COLUMN probe_sent_at;
ALTER TABLE send_ledger DROP COLUMN probe_message_id;
ALTER TABLE send_ledger DROP COLUMN resolved_by;
ALTER TABLE send_ledger DROP COLUMN message_count;
UPDATE send_ledger SET state = 'sending' WHERE state IN ('split', 'unknown');
ALTER TABLE send_ledger DROP CONSTRAINT send_ledger_state_check;
ALTER TABLE send_ledger ADD CONSTRAINT send_ledger_state_check CHECK (state IN ('pending', 'sending', 'accepted', 'failed'));
ALTER TABLE send_ledger DROP CONSTRAINT send_ledger_pkey;
ALTER TABLE send_ledger ADD PRIMARY KEY (campaign_id, batch_no);
ALTER TABLE send_ledger DROP COLUMN parent_part;
ALTER TABLE send_ledger DROP COLUMN part;
