-- Up Migration

-- The audience snapshot is the one writer of campaign_recipients, and each page selects its
-- user ids from users while holding the campaign row's lock in the same transaction, so both
-- references hold by construction. Their per-row integrity triggers cost two thirds of the
-- snapshot's time (measured: 200 of 300 ms per 20,000-row page), time the send waits for.
-- Campaigns and users are archived or marked deleted, never removed, so nothing cascades.
ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_campaign_id_fkey;
ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_user_id_fkey;

-- Down Migration
ALTER TABLE campaign_recipients ADD CONSTRAINT campaign_recipients_user_id_fkey
  FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE campaign_recipients ADD CONSTRAINT campaign_recipients_campaign_id_fkey
  FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;
