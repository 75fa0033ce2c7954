-- Up Migration

-- A financial run reads its customers in report id order, byte by byte as S3 lists the month's files,
-- so each page can be stored as soon as the listing has passed it; this index serves those pages.
CREATE INDEX users_report_id_order ON users ((custom_id COLLATE "C"), id) WHERE custom_id IS NOT NULL;

-- Down Migration

DROP INDEX users_report_id_order;
