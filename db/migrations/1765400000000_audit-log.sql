-- Up Migration

-- Who did what to which campaign, when (README, "The audit log"). Append-only: rows are never
-- changed or removed, by the application or anyone else with its credentials.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  -- api:<key name>, cli:<user>, schedule, webhook, ...
  actor       text NOT NULL CHECK (actor <> ''),
  action      text NOT NULL CHECK (action <> ''),
  -- No foreign key: an entry outlives what it is about, and must never wait on a lock of the campaign's row.
  campaign_id bigint,
  details     jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id  text
);
CREATE INDEX audit_log_campaign ON audit_log (campaign_id, id) WHERE campaign_id IS NOT NULL;

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Down Migration
DROP TABLE audit_log;
DROP FUNCTION audit_log_is_append_only();
