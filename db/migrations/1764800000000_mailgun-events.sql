-- Up Migration

-- Every Mailgun event we learned of, from a webhook or from reconciliation with Mailgun's logs,
-- once: Mailgun's event id is the key, so a webhook delivered twice (or also found by
-- reconciliation) is recorded and counted once. campaign_id and user_id are what the event's
-- `v:campaign_id` and recipient resolved to (null when they name nothing we know).
CREATE TABLE mailgun_events (
  event_id    text PRIMARY KEY,
  event       text NOT NULL CHECK (event IN ('accepted', 'delivered', 'opened', 'clicked', 'unsubscribed',
                                             'complained', 'permanent_fail', 'temporary_fail')),
  campaign_id bigint,
  user_id     bigint,
  recipient   text NOT NULL,
  message_id  text,
  occurred_at timestamptz NOT NULL,
  reason      text,
  source      text NOT NULL CHECK (source IN ('webhook', 'reconciliation')),
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mailgun_events_campaign_idx ON mailgun_events (campaign_id, event) WHERE campaign_id IS NOT NULL;

-- Clicks with the link clicked.
CREATE TABLE click_events (
  event_id    text PRIMARY KEY REFERENCES mailgun_events (event_id) ON DELETE CASCADE,
  campaign_id bigint,
  user_id     bigint,
  url         text NOT NULL,
  clicked_at  timestamptz NOT NULL
);
CREATE INDEX click_events_campaign_idx ON click_events (campaign_id, url) WHERE campaign_id IS NOT NULL;

-- The first open and first click of each recipient of a campaign: what unique opens and clicks count.
CREATE TABLE campaign_engagement (
  campaign_id bigint NOT NULL,
  recipient   text NOT NULL,   -- lower-cased address
  kind        text NOT NULL CHECK (kind IN ('opened', 'clicked')),
  first_at    timestamptz NOT NULL,
  PRIMARY KEY (campaign_id, recipient, kind)
);

-- Webhook tokens already used, so a captured request cannot be replayed. Shared by every API
-- instance; rows older than the signature window are useless (the timestamp check refuses
-- them anyway) and are pruned.
CREATE TABLE webhook_tokens (
  token   text PRIMARY KEY,
  seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_tokens_seen_idx ON webhook_tokens (seen_at);

-- Counters the events fill, and the projection's bookkeeping: every change to a campaign's
-- counters bumps events_version; the Firestore projection records the version it last wrote.
ALTER TABLE campaign_stats ADD COLUMN temporary_failed integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN events_version bigint NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN projected_version bigint NOT NULL DEFAULT 0;
CREATE INDEX campaign_stats_unprojected_idx ON campaign_stats (campaign_id) WHERE events_version > projected_version;

-- Where reconciliation with Mailgun's logs got to, per campaign.
ALTER TABLE campaign_stats ADD COLUMN reconciled_until timestamptz;

CREATE INDEX users_suppressed_idx ON users (suppressed_at, id) WHERE suppressed_at IS NOT NULL;

-- Down Migration
DROP INDEX users_suppressed_idx;
ALTER TABLE campaign_stats DROP COLUMN reconciled_until, DROP COLUMN projected_version,
  DROP COLUMN events_version, DROP COLUMN temporary_failed;
DROP TABLE webhook_tokens;
DROP TABLE campaign_engagement;
DROP TABLE click_events;
DROP TABLE mailgun_events;
