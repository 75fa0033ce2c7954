-- Up Migration

-- Idempotency keys are scoped: to the caller and the route for keys callers send (an API key, a CLI
-- user), to `system:…` for the keys the pipeline uses itself (`financial-YYYY-MM`), which no caller
-- can write. The request's hash tells a retry (the same body) from a different request under a reused key.
ALTER TABLE campaigns ADD COLUMN idempotency_scope text, ADD COLUMN idempotency_hash text;
UPDATE campaigns SET idempotency_scope = CASE
    WHEN idempotency_key ~ '^financial-[0-9]{4}-[0-9]{2}$' AND type = 'financial' AND report_year IS NOT NULL THEN 'system:financial-run'
    ELSE 'legacy' END
  WHERE idempotency_key IS NOT NULL;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_idempotency_key_key;
CREATE UNIQUE INDEX campaigns_idempotency ON campaigns (idempotency_scope, idempotency_key);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_idempotency_scoped CHECK ((idempotency_key IS NULL) = (idempotency_scope IS NULL));

-- Down Migration
ALTER TABLE campaigns DROP CONSTRAINT campaigns_idempotency_scoped;
DROP INDEX campaigns_idempotency;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_idempotency_key_key UNIQUE (idempotency_key);
ALTER TABLE campaigns DROP COLUMN idempotency_scope, DROP COLUMN idempotency_hash;
