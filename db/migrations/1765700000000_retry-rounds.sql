-- Up Migration

-- A retry round sends a campaign again to recipients whose part failed for a reason that may since
-- have been fixed: never sent because Mailgun refused the campaign's own request, or reported a
-- temporary failure after accepting it. Each round freezes its recipients as new campaign_recipients
-- rows (ordinals after every earlier row, `round` > 0), so its batches are new ledger parts with
-- markers of their own; the round's send workflow writes its status here, never the campaign's.
CREATE TABLE campaign_retries (
  campaign_id    bigint  NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  round          integer NOT NULL CHECK (round > 0),
  reason_like    text,             -- only reasons containing this (case-insensitive); NULL: every retryable reason
  temporary_after_ms bigint NOT NULL, -- a temporary failure counts once it is this old (Mailgun retries it itself meanwhile)
  requested_by   text    NOT NULL,
  requested_at   timestamptz NOT NULL DEFAULT now(),
  first_ordinal  integer NOT NULL, -- the round's recipients are ordinals first_ordinal .. first_ordinal + recipients - 1
  recipients     integer NOT NULL,
  unsent         integer NOT NULL, -- of them, never sent before
  resent         integer NOT NULL, -- of them, sent before and failed temporarily
  status         text    NOT NULL DEFAULT 'sending'
                 CHECK (status IN ('sending', 'paused', 'needs-attention', 'sent', 'cancelled', 'failed')),
  status_version bigint  NOT NULL DEFAULT 0,
  failure_reason text,
  finished_at    timestamptz,
  PRIMARY KEY (campaign_id, round)
);

ALTER TABLE campaign_recipients ADD COLUMN round integer NOT NULL DEFAULT 0;
-- Why a retry round sends to this recipient again.
ALTER TABLE campaign_recipients ADD COLUMN retry_reason text;
-- Mailgun accepted an earlier message to this recipient (it then failed temporarily): the campaign's
-- sent count already has them, so this row's acceptance is not counted again.
ALTER TABLE campaign_recipients ADD COLUMN resend boolean NOT NULL DEFAULT false;
CREATE INDEX campaign_recipients_resend_idx ON campaign_recipients (campaign_id, ordinal) WHERE resend;
-- A person appears once per round.
ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_campaign_id_user_id_key;
ALTER TABLE campaign_recipients ADD CONSTRAINT campaign_recipients_round_user_key UNIQUE (campaign_id, round, user_id);

-- Down Migration
DELETE FROM campaign_recipients WHERE round > 0;
ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_round_user_key;
ALTER TABLE campaign_recipients ADD CONSTRAINT campaign_recipients_campaign_id_user_id_key UNIQUE (campaign_id, user_id);
DROP INDEX campaign_recipients_resend_idx;
ALTER TABLE campaign_recipients DROP COLUMN resend;
ALTER TABLE campaign_recipients DROP COLUMN retry_reason;
ALTER TABLE campaign_recipients DROP COLUMN round;
DROP TABLE campaign_retries;
