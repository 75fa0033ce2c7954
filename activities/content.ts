import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { FieldValue } from 'firebase-admin/firestore';
import { periodLabel } from '../common/financial.js';
import type { GenerateContentRequest } from '../common/lifecycle.js';
import type { Campaign } from '../db/campaigns.js';
import { findGeneratedContent, storeGeneratedContent, useGeneratedContent, type StoredDraft, type TokenUsage } from '../db/drafts.js';
import { requireCampaign } from './campaigns.js';
import type { ActivityDeps } from './deps.js';
import { withHeartbeat } from './heartbeat.js';
import { DraftError, type ChatMessage } from './openai.js';

export const FIRESTORE_GENERATED_CONTENT = 'generatedContent';

export interface GenerateContentInput {
  campaignId: string;
  /** The configuration version the draft replaces; the campaign must still be at it. */
  expectedVersion: number;
  /** Identifies this edit, so a retry after it was applied recognises it. */
  editId: string;
  request: GenerateContentRequest;
}

export interface GeneratedContent {
  generatedContentId: string;
  configVersion: number;
  /** The draft came from the cache: no call to OpenAI. */
  cached: boolean;
  usage: TokenUsage;
}

const SYSTEM_PROMPT = [
  'You write emails for Distro Nation, a music distributor, to the artists and labels it distributes for.',
  'Answer with JSON: {"subject", "html", "text"}. Keep the subject under 80 characters.',
  'Address the reader with the placeholder %recipient.name%; never invent names, figures or links.',
].join(' ');

const TYPE_BRIEF: Record<Campaign['type'], string> = {
  financial: 'A monthly financial statement email: the reader\'s reports for the month are ready to download.',
  newsletter: 'A newsletter for artists and labels.',
  outreach: 'An outreach email to artists and labels.',
};

/** The prompt, from the campaign's type, name and period and the editor's own words. */
export function buildPrompt(campaign: Campaign, request: GenerateContentRequest): ChatMessage[] {
  const { reportYear: year, reportMonth: month } = campaign;
  const period = year !== null && month !== null ? `Period: ${periodLabel({ year, month })}.` : '';
  const brief = [TYPE_BRIEF[campaign.type], `Campaign: ${campaign.name}.`, period, request.prompt ?? ''].filter(Boolean).join('\n');
  return [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: brief },
  ];
}

export function promptHash(model: string, messages: ChatMessage[]): string {
  return createHash('sha256').update(JSON.stringify({ model, messages })).digest('hex');
}

export function createContentActivities({ pool, firestore, contentWriter, ai }: ActivityDeps) {
  /** Asks OpenAI once per distinct prompt; the same prompt again gets the stored draft. */
  async function draftFor(model: string, messages: ChatMessage[]): Promise<{ draft: StoredDraft; cached: boolean; hash: string }> {
    const hash = promptHash(model, messages);
    const cached = await findGeneratedContent(pool, hash);
    if (cached) return { draft: cached, cached: true, hash };
    let written;
    try {
      written = await contentWriter.draft(model, messages);
    } catch (error) {
      throw asActivityFailure(error);
    }
    const draft = await storeGeneratedContent(pool, { promptHash: hash, model, prompt: messages, ...written });
    return { draft, cached: false, hash };
  }

  return {
    /**
     * Drafts the campaign's subject and body with OpenAI and makes them its
     * content (a new configuration version). Stored in Aurora and in Firestore
     * `generatedContent/{id}` with the prompt and token usage, and cached by the
     * prompt's hash: a retry, a replay or the same request again never asks
     * OpenAI twice.
     */
    async generateContent({ campaignId, expectedVersion, editId, request }: GenerateContentInput): Promise<GeneratedContent> {
      const campaign = await requireCampaign(pool, campaignId);
      const model = request.model ?? ai.model;
      const messages = buildPrompt(campaign, request);
      // OpenAI may take a while: heartbeats tell Temporal the worker is alive meanwhile.
      const { draft, cached, hash } = await withHeartbeat(draftFor(model, messages));
      await firestore.collection(FIRESTORE_GENERATED_CONTENT).doc(draft.id).set(
        {
          campaignId,
          model,
          promptHash: hash,
          prompt: messages,
          subject: draft.subject,
          html: draft.html,
          text: draft.text,
          usage: draft.usage,
          createdAt: FieldValue.serverTimestamp(),
        },
        { merge: true },
      );
      const version = await useGeneratedContent(pool, campaignId, draft.id, expectedVersion, editId);
      if (version === undefined) {
        throw ApplicationFailure.nonRetryable(
          `campaign ${campaignId} changed while its content was being drafted (it is no longer at version ${expectedVersion})`,
          'VersionConflict',
        );
      }
      return { generatedContentId: draft.id, configVersion: version, cached, usage: draft.usage };
    },
  };
}

function asActivityFailure(error: unknown): Error {
  if (!(error instanceof DraftError)) return error instanceof Error ? error : new Error(String(error));
  const { failure } = error;
  switch (failure.kind) {
    case 'retryable':
      return ApplicationFailure.create({
        type: 'OpenAIUnavailable',
        message: failure.message,
        ...(failure.retryAfterMs === undefined ? {} : { nextRetryDelay: failure.retryAfterMs }),
      });
    case 'malformed':
      return ApplicationFailure.nonRetryable(failure.message, 'ContentMalformed');
    case 'refused':
      return ApplicationFailure.nonRetryable(failure.message, 'ContentRefused');
    case 'rejected':
      return ApplicationFailure.nonRetryable(failure.message, 'OpenAIRejected');
  }
}
