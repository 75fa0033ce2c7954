import type { Pool } from 'pg';

/** The audit log: who did what to which campaign, when. Append-only (the table refuses changes). */

export interface AuditEntry {
  /** `api:<key name>`, `cli:<user>`, `schedule`, … */
  actor: string;
  /** create, configure, approve, cancel, resolve-batch, lift-suppression, … */
  action: string;
  campaignId?: string | null;
  /** What the action was about: changed fields' names, a decision, a reason. Never content, never an address. */
  details?: Record<string, unknown>;
  requestId?: string | null;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'details'>> {
  id: string;
  at: Date;
  details: Record<string, unknown>;
}

export async function appendAudit(pool: Pool, entry: AuditEntry): Promise<void> {
  await pool.query('INSERT INTO audit_log (actor, action, campaign_id, details, request_id) VALUES ($1, $2, $3, $4, $5)', [
    entry.actor,
    entry.action,
    entry.campaignId ?? null,
    JSON.stringify(entry.details ?? {}),
    entry.requestId ?? null,
  ]);
}

export interface AuditQuery {
  campaignId?: string;
  actor?: string;
  /** Entries after this id (the previous page's last). */
  after?: string;
  limit: number;
}

/** Entries in the order they were made. */
export async function listAudit(pool: Pool, { campaignId, actor, after, limit }: AuditQuery): Promise<AuditRecord[]> {
  const { rows } = await pool.query<AuditRecord>(
    `SELECT id::text, at, actor, action, campaign_id::text AS "campaignId", details, request_id AS "requestId"
     FROM audit_log
     WHERE ($1::bigint IS NULL OR campaign_id = $1) AND ($2::text IS NULL OR actor = $2) AND id > coalesce($3::bigint, 0)
     ORDER BY id LIMIT $4`,
    [campaignId ?? null, actor ?? null, after ?? null, limit],
  );
  return rows;
}
