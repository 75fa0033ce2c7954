-- Up Migration

-- Consent per person and stream. The campaign types are the streams (financial, newsletter,
-- outreach); a campaign goes only to people whose row for its stream is in the statuses its
-- audience accepts (subscribed by default). What reached an address as a whole (a permanent
-- bounce, an address Mailgun refused) stays on users.suppressed_at: it stops every stream.
CREATE TABLE subscriptions (
  user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  stream      text NOT NULL,
  status      text NOT NULL CHECK (status IN ('subscribed', 'unsubscribed', 'pending')),
  reason      text,            -- why it is so: unsubscribed, complained, resubscribed, migrated, ...
  source      text NOT NULL,   -- who or what said so: link, one-click, preferences, mailgun, crm, migration, ...
  campaign_id bigint,          -- the campaign the change came from, when one did
  changed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, stream)
);
CREATE INDEX subscriptions_stream_idx ON subscriptions (stream, status, user_id);

-- Today's consent, as it was: one row per email type a user accepted, with the user's one
-- subscription status.
INSERT INTO subscriptions (user_id, stream, status, reason, source, changed_at)
SELECT u.id, t.stream, u.subscription_status, 'migrated', 'migration', u.updated_at
FROM users u CROSS JOIN LATERAL (SELECT DISTINCT unnest(u.email_types) AS stream) t
WHERE t.stream IS NOT NULL AND t.stream <> '';

-- An unsubscribe or complaint stopped everything until now. It becomes an opt-out of every
-- marketing stream (so no marketing audience changes) and of the stream it came from (the
-- campaign of the user's latest such event): a statement stops only for a person who opted out
-- of a statement; everyone else gets their statements again.
WITH moved AS (
  SELECT u.id AS user_id, u.suppression_reason AS reason, u.suppressed_at,
         (SELECT c.type FROM mailgun_events e JOIN campaigns c ON c.id = e.campaign_id
          WHERE e.user_id = u.id AND e.event = u.suppression_reason
          ORDER BY e.occurred_at DESC LIMIT 1) AS origin
  FROM users u
  WHERE u.suppressed_at IS NOT NULL AND u.suppression_reason IN ('unsubscribed', 'complained')
), opted_out AS (
  SELECT DISTINCT m.user_id, s.stream, m.reason, m.suppressed_at
  FROM moved m
  CROSS JOIN LATERAL unnest(ARRAY['newsletter', 'outreach'] || CASE WHEN m.origin IS NULL THEN '{}'::text[] ELSE ARRAY[m.origin] END) AS s(stream)
)
INSERT INTO subscriptions (user_id, stream, status, reason, source, changed_at)
SELECT user_id, stream, 'unsubscribed', reason, 'migration', suppressed_at FROM opted_out
ON CONFLICT (user_id, stream) DO UPDATE
  SET status = 'unsubscribed', reason = EXCLUDED.reason, source = 'migration', changed_at = EXCLUDED.changed_at;

UPDATE users SET suppressed_at = NULL, suppression_reason = NULL
WHERE suppressed_at IS NOT NULL AND suppression_reason IN ('unsubscribed', 'complained');

-- The old columns stay, renamed, as they were at this migration: nothing reads them but the CRM's
-- user list, for a user with no stream (whose one status described nothing they could receive).
-- Renamed, so that a writer that still sets them fails loudly instead of being ignored.
ALTER TABLE users RENAME COLUMN subscription_status TO legacy_subscription_status;
ALTER TABLE users RENAME COLUMN email_types TO legacy_email_types;

-- Down Migration
ALTER TABLE users RENAME COLUMN legacy_subscription_status TO subscription_status;
ALTER TABLE users RENAME COLUMN legacy_email_types TO email_types;
UPDATE users u SET email_types = s.streams, subscription_status = s.status
FROM (SELECT user_id, array_agg(stream ORDER BY stream) AS streams,
             CASE WHEN bool_or(status = 'subscribed') THEN 'subscribed'
                  WHEN bool_or(status = 'pending') THEN 'pending' ELSE 'unsubscribed' END AS status
      FROM subscriptions GROUP BY user_id) s
WHERE u.id = s.user_id;
DROP TABLE subscriptions;
