import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { CampaignChanges } from '../common/lifecycle.js';
import { appliedEdit } from './campaigns.js';
import { sql } from './queries.js';

/** What a draft is built from besides its own row: test addresses, preview sends, AI-written content. */

export interface TestAddress {
  id: string;
  email: string;
}

/** Stores preview addresses (once each) and returns their ids, which workflows carry instead of addresses. */
export async function saveTestAddresses(pool: Pool, emails: string[]): Promise<TestAddress[]> {
  if (emails.length === 0) return [];
  const result = await pool.query<TestAddress>(sql.upsertTestAddresses, [emails]);
  return result.rows;
}

export async function loadTestAddresses(pool: Pool, ids: string[]): Promise<TestAddress[]> {
  if (ids.length === 0) return [];
  const result = await pool.query<TestAddress>(sql.selectTestAddresses, [ids]);
  return result.rows;
}

/** Drafts older than this are gone: an edit is applied within seconds of being saved, or never. */
const EDIT_DRAFT_DAYS = 7;

/** Keeps an editor's changes for the lifecycle workflow to apply; returns the draft's id, which is all the workflow carries. */
export async function saveEditDraft(pool: Pool, campaignId: string, changes: CampaignChanges): Promise<string> {
  const id = randomUUID();
  await pool.query('INSERT INTO campaign_edit_drafts (id, campaign_id, changes) VALUES ($1, $2, $3)', [id, campaignId, JSON.stringify(changes)]);
  await pool.query(`DELETE FROM campaign_edit_drafts WHERE created_at < now() - interval '${EDIT_DRAFT_DAYS} days'`);
  return id;
}

export async function loadEditDraft(pool: Pool, campaignId: string, draftId: string): Promise<CampaignChanges | undefined> {
  const { rows } = await pool.query<{ changes: CampaignChanges }>('SELECT changes FROM campaign_edit_drafts WHERE id = $1 AND campaign_id = $2', [draftId, campaignId]);
  return rows[0]?.changes;
}

export type PreviewState = 'pending' | 'sending' | 'sent' | 'unknown' | 'failed';

export interface PreviewRow {
  state: PreviewState;
  recipients: number | null;
  messageId: string | null;
  sentAt: Date | null;
}

export async function ensurePreview(pool: Pool, campaignId: string, previewNo: number, configVersion: number): Promise<PreviewRow> {
  const result = await pool.query<PreviewRow>(sql.ensurePreview, [campaignId, previewNo, configVersion]);
  const row = result.rows[0];
  if (!row) throw new Error(`campaign_previews row ${campaignId}/${previewNo} was not returned`);
  return row;
}

/** Claims the one request a preview may make; undefined when an earlier attempt already did. */
export async function claimPreview(pool: Pool, campaignId: string, previewNo: number, recipients: number): Promise<Date | undefined> {
  const result = await pool.query<{ sentAt: Date }>(sql.claimPreview, [campaignId, previewNo, recipients]);
  return result.rows[0]?.sentAt;
}

export async function settlePreview(
  pool: Pool,
  campaignId: string,
  previewNo: number,
  state: Exclude<PreviewState, 'sending'>,
  messageId: string | null,
): Promise<void> {
  await pool.query(sql.settlePreview, [campaignId, previewNo, state, messageId]);
}

export interface GeneratedDraft {
  subject: string;
  html: string;
  text: string;
}

export interface StoredDraft extends GeneratedDraft {
  id: string;
  usage: TokenUsage;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export async function findGeneratedContent(pool: Pool, promptHash: string): Promise<StoredDraft | undefined> {
  const result = await pool.query<StoredDraft>(sql.selectGeneratedContent, [promptHash]);
  return result.rows[0];
}

/** Stores a draft under its prompt's hash; if the same prompt was stored meanwhile, that one is kept and returned. */
export async function storeGeneratedContent(
  pool: Pool,
  draft: { promptHash: string; model: string; prompt: unknown; content: GeneratedDraft; usage: TokenUsage },
): Promise<StoredDraft> {
  const { content } = draft;
  const result = await pool.query<{ id: string }>(sql.insertGeneratedContent, [
    draft.promptHash,
    draft.model,
    JSON.stringify(draft.prompt),
    content.subject,
    content.html,
    content.text,
    JSON.stringify(draft.usage),
  ]);
  const id = result.rows[0]?.id;
  if (id !== undefined) return { id, ...content, usage: draft.usage };
  const existing = await findGeneratedContent(pool, draft.promptHash);
  if (!existing) throw new Error(`generated content for ${draft.promptHash} vanished`);
  return existing;
}

/**
 * Makes a stored draft the campaign's content, if the campaign is still at
 * `expectedVersion`; returns the new version (also when `editId` was applied
 * already), or undefined on a conflict.
 */
export async function useGeneratedContent(
  pool: Pool,
  campaignId: string,
  draftId: string,
  expectedVersion: number,
  editId: string,
): Promise<number | undefined> {
  const result = await pool.query<{ config_version: number }>(sql.useGeneratedContent, [campaignId, draftId, expectedVersion, editId]);
  return result.rows[0]?.config_version ?? appliedEdit(pool, campaignId, editId);
}
