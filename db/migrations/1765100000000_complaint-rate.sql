-- Up Migration

-- Spam complaints per delivered message, beside the other rates of a campaign's analysis.
ALTER TABLE campaign_analytics ADD COLUMN complaint_rate double precision NOT NULL DEFAULT 0;
UPDATE campaign_analytics SET complaint_rate = CASE WHEN delivered > 0 THEN round(complained::numeric / delivered, 4) ELSE 0 END;

-- Down Migration
ALTER TABLE campaign_analytics DROP COLUMN complaint_rate;
