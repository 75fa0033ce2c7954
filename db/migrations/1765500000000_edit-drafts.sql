-- Up Migration

-- An editor's changes on their way to the lifecycle workflow: the workflow is told the draft's id,
-- never the content, so a large edit cannot grow its history (README, "What workflows carry").
CREATE TABLE campaign_edit_drafts (
  id          uuid PRIMARY KEY,
  campaign_id bigint NOT NULL REFERENCES campaigns (id),
  changes     jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_edit_drafts_created ON campaign_edit_drafts (created_at);

-- Down Migration
DROP TABLE campaign_edit_drafts;
