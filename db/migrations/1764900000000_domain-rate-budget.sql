-- Up Migration

-- The sending rate budget of each Mailgun domain, shared by every campaign and every worker:
-- a sendBatch reserves the next slot (next_slot_at moves on by the batch's share of the rate)
-- and waits for it. A 429 from Mailgun halves `factor` and pushes next_slot_at past its
-- Retry-After; clean batches bring the factor back. Rows keyed `campaign:<id>` are a single
-- campaign's own ceiling (its ratePerSecond send option), reserved before the domain's.
CREATE TABLE send_rate_budgets (
  budget          text PRIMARY KEY,
  rate_per_second double precision NOT NULL CHECK (rate_per_second > 0),
  factor          double precision NOT NULL DEFAULT 1 CHECK (factor > 0 AND factor <= 1),
  next_slot_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  reserved        bigint NOT NULL DEFAULT 0,   -- messages slots were reserved for
  rate_limits     bigint NOT NULL DEFAULT 0,   -- 429s Mailgun answered
  rate_limited_at timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- What the lifecycle alone writes once the send child only reports: why a campaign failed.
ALTER TABLE campaigns ADD COLUMN failure_reason text;
-- The send tuning frozen at approval (batch size, window, the campaign's own rate ceiling), so
-- progress can be read from Aurora; and the domain its batches go out on (its rate budget).
ALTER TABLE campaigns ADD COLUMN send_options jsonb;
ALTER TABLE campaigns ADD COLUMN sending_domain text;

-- When a part whose outcome is unknown was parked (its proof from Mailgun's logs being sought);
-- a new attempt clears it.
ALTER TABLE send_ledger ADD COLUMN parked_at timestamptz;

-- Down Migration
ALTER TABLE send_ledger DROP COLUMN parked_at;
ALTER TABLE campaigns DROP COLUMN sending_domain, DROP COLUMN send_options, DROP COLUMN failure_reason;
DROP TABLE send_rate_budgets;
