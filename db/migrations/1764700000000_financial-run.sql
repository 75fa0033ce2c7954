-- Up Migration

-- A financial run's links: one per customer and report file found for the month, signed for
-- CloudFront. Written in pages before the send; each batch reads its recipients' links.
CREATE TABLE report_links (
  campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  user_id     bigint NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('youtube', 'streaming')),
  filename    text NOT NULL,
  label       text NOT NULL,
  url         text NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (campaign_id, user_id, kind)
);

-- What the run found: customers considered, links signed, report files missing.
ALTER TABLE campaign_stats ADD COLUMN report_customers integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN report_links integer NOT NULL DEFAULT 0;
ALTER TABLE campaign_stats ADD COLUMN report_files_missing integer NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE campaign_stats DROP COLUMN report_files_missing, DROP COLUMN report_links, DROP COLUMN report_customers;
DROP TABLE report_links;
