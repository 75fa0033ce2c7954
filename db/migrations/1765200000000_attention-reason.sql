-- Up Migration

-- Why a campaign waits for an operator while its status is needs-attention: its send's brake
-- tripped (bounce or complaint rate), or batches whose outcome is unknown. Cleared with any other status.
ALTER TABLE campaigns ADD COLUMN attention_reason text;

-- Down Migration
ALTER TABLE campaigns DROP COLUMN attention_reason;
