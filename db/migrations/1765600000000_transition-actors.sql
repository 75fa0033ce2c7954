-- Up Migration

-- Who made each status change: a caller (api:<key>, cli:<user>, schedule), `temporal` for a request made
-- through Temporal directly (its UI or CLI), `system` for the workflow's own steps. NULL: recorded before.
ALTER TABLE campaign_transitions ADD COLUMN actor text;

-- Down Migration
ALTER TABLE campaign_transitions DROP COLUMN actor;
