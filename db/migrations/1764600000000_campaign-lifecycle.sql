-- Up Migration

-- The lifecycle: a configuration that editors change under a version number (an edit against a
-- stale version is a conflict), content and audience frozen at approval, the report period of a
-- financial campaign, a scheduled send time, and the client's idempotency key.
ALTER TABLE campaigns ADD COLUMN config_version integer NOT NULL DEFAULT 1;
-- The edit that made config_version: a retried edit recognises itself instead of conflicting.
ALTER TABLE campaigns ADD COLUMN last_edit_id text;
ALTER TABLE campaigns ADD COLUMN report_year integer CHECK (report_year BETWEEN 2000 AND 2100);
ALTER TABLE campaigns ADD COLUMN report_month integer CHECK (report_month BETWEEN 1 AND 12);
ALTER TABLE campaigns ADD COLUMN send_at timestamptz;
ALTER TABLE campaigns ADD COLUMN idempotency_key text UNIQUE;
ALTER TABLE campaigns ADD COLUMN generated_content_id bigint;
ALTER TABLE campaigns ADD COLUMN frozen_content jsonb;      -- {subject, html, text, from}: what every batch sends
ALTER TABLE campaigns ADD COLUMN frozen_audience jsonb;     -- the filters the snapshot uses
ALTER TABLE campaigns ADD COLUMN approved_at timestamptz;
ALTER TABLE campaigns ADD COLUMN archived_at timestamptz;
CREATE INDEX campaigns_list_idx ON campaigns (id DESC);
CREATE INDEX campaigns_status_type_idx ON campaigns (status, type, id DESC);

-- Every status a campaign went through, when: the lifecycle's audit trail.
CREATE TABLE campaign_transitions (
  campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  status      text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  version     bigint NOT NULL,
  PRIMARY KEY (campaign_id, version)
);

-- Where preview (test) sends go: operators' own addresses, kept out of workflow histories,
-- which carry their ids.
CREATE TABLE test_addresses (
  id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL
);
CREATE UNIQUE INDEX test_addresses_email_key ON test_addresses (lower(email));
ALTER TABLE campaigns ADD COLUMN test_address_ids bigint[] NOT NULL DEFAULT '{}';

-- One row per preview request: sent at most once, like a batch.
CREATE TABLE campaign_previews (
  campaign_id        bigint  NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  preview_no         integer NOT NULL,
  config_version     integer NOT NULL,
  state              text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'unknown', 'failed')),
  recipients         integer,
  mailgun_message_id text,
  sent_at            timestamptz,
  PRIMARY KEY (campaign_id, preview_no)
);

-- Drafts written by OpenAI, cached by a hash of everything the prompt was built from.
CREATE TABLE generated_content (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  prompt_hash   text NOT NULL UNIQUE,
  model         text NOT NULL,
  prompt        jsonb NOT NULL,
  subject       text NOT NULL,
  body_html     text NOT NULL,
  body_text     text NOT NULL,
  usage         jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Engagement counters (webhooks and reconciliation fill them) and the analysis of a campaign.
ALTER TABLE campaign_stats ADD COLUMN delivered integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN opened integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN unique_opened integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN clicked integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN unique_clicked integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN bounced integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN complained integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN unsubscribed integer NOT NULL DEFAULT 0;

CREATE TABLE campaign_analytics (
  campaign_id      bigint PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
  sent             integer NOT NULL,
  delivered        integer NOT NULL,
  opened           integer NOT NULL,
  clicked          integer NOT NULL,
  bounced          integer NOT NULL,
  complained       integer NOT NULL,
  unsubscribed     integer NOT NULL,
  delivery_rate    double precision NOT NULL,
  open_rate        double precision NOT NULL,
  click_rate       double precision NOT NULL,
  bounce_rate      double precision NOT NULL,
  unsubscribe_rate double precision NOT NULL,
  final            boolean NOT NULL DEFAULT false,
  computed_at      timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE campaign_analytics;
ALTER TABLE campaign_stats DROP COLUMN unsubscribed, DROP COLUMN complained, DROP COLUMN bounced,
  DROP COLUMN unique_clicked, DROP COLUMN clicked, DROP COLUMN unique_opened, DROP COLUMN opened, DROP COLUMN delivered;
DROP TABLE generated_content;
DROP TABLE campaign_previews;
ALTER TABLE campaigns DROP COLUMN test_address_ids;
DROP TABLE test_addresses;
DROP TABLE campaign_transitions;
DROP INDEX campaigns_status_type_idx;
DROP INDEX campaigns_list_idx;
ALTER TABLE campaigns DROP COLUMN archived_at, DROP COLUMN approved_at, DROP COLUMN frozen_audience,
  DROP COLUMN frozen_content, DROP COLUMN generated_content_id, DROP COLUMN idempotency_key,
  DROP COLUMN send_at, DROP COLUMN report_month, DROP COLUMN report_year, DROP COLUMN last_edit_id,
  DROP COLUMN config_version;
