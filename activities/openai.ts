import type OpenAI from 'openai';
import { z } from 'zod';
import type { GeneratedDraft, TokenUsage } from '../db/drafts.js';

/**
 * Drafting an email with OpenAI's chat completions, asking for a structured
 * JSON answer (subject, html, text). The client never retries by itself
 * (maxRetries 0): retries are Temporal's, so there is one policy, visible in
 * the workflow history. Failures come back sorted: worth retrying (timeouts,
 * lost connections, 429, 5xx) or not (a refusal, an answer that is not the
 * JSON asked for, a bad request or key).
 */

export interface OpenAISettings {
  apiKey: string;
  baseURL: string;
  timeoutMs: number;
}

export interface ChatMessage {
  role: 'system' | 'user';
  content: string;
}

export type DraftFailure =
  | { kind: 'retryable'; message: string; retryAfterMs?: number }
  | { kind: 'malformed'; message: string }
  | { kind: 'refused'; message: string }
  | { kind: 'rejected'; message: string };

/** A draft OpenAI could not give: `failure` says whether trying again can help. */
export class DraftError extends Error {
  constructor(readonly failure: DraftFailure) {
    super(failure.message);
    this.name = 'DraftError';
  }
}

export interface ContentWriter {
  draft(model: string, messages: ChatMessage[]): Promise<{ content: GeneratedDraft; usage: TokenUsage }>;
}

const draftSchema = z.object({
  subject: z.string().trim().min(1).max(998),
  html: z.string().trim().min(1),
  text: z.string().trim().min(1),
});

const RESPONSE_FORMAT = {
  type: 'json_schema',
  json_schema: {
    name: 'email_draft',
    strict: true,
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['subject', 'html', 'text'],
      properties: {
        subject: { type: 'string', description: 'The subject line, under 80 characters' },
        html: { type: 'string', description: 'The HTML body' },
        text: { type: 'string', description: 'The plain-text body' },
      },
    },
  },
} as const;

type OpenAIClass = typeof OpenAI;

/** The SDK, loaded on the first draft: most workers never draft, and loading it costs ~8 MB resident. */
let sdk: Promise<OpenAIClass> | undefined;
const loadSdk = (): Promise<OpenAIClass> => (sdk ??= import('openai').then((module) => module.default));

export function createOpenAIWriter(settings: OpenAISettings): ContentWriter {
  let client: OpenAI | undefined;
  return {
    async draft(model, messages) {
      const OpenAIClient = await loadSdk();
      client ??= new OpenAIClient({ apiKey: settings.apiKey, baseURL: settings.baseURL, timeout: settings.timeoutMs, maxRetries: 0 });
      let completion: OpenAI.Chat.Completions.ChatCompletion;
      try {
        completion = await client.chat.completions.create({ model, messages, response_format: RESPONSE_FORMAT });
      } catch (error) {
        throw new DraftError(classifyOpenAIError(OpenAIClient, error));
      }
      const message = completion.choices[0]?.message;
      if (message?.refusal) throw new DraftError({ kind: 'refused', message: `OpenAI refused to write it: ${message.refusal}` });
      return { content: parseDraft(message?.content), usage: usageOf(completion.usage) };
    },
  };
}

/** The JSON OpenAI was asked for, checked field by field. */
export function parseDraft(content: string | null | undefined): GeneratedDraft {
  if (!content) throw new DraftError({ kind: 'malformed', message: 'OpenAI answered with no content' });
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    throw new DraftError({ kind: 'malformed', message: `OpenAI's answer is not valid JSON: ${content.slice(0, 80)}` });
  }
  const parsed = draftSchema.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(answer)'}: ${issue.message}`);
    throw new DraftError({ kind: 'malformed', message: `OpenAI's answer is not the draft asked for: ${fields.join('; ')}` });
  }
  return parsed.data;
}

function usageOf(usage: OpenAI.Completions.CompletionUsage | undefined): TokenUsage {
  return {
    promptTokens: usage?.prompt_tokens ?? 0,
    completionTokens: usage?.completion_tokens ?? 0,
    totalTokens: usage?.total_tokens ?? 0,
  };
}

function classifyOpenAIError(OpenAI: OpenAIClass, error: unknown): DraftFailure {
  if (error instanceof OpenAI.APIConnectionError) return { kind: 'retryable', message: `OpenAI unreachable: ${error.message}` };
  if (error instanceof OpenAI.RateLimitError) {
    const seconds = Number(error.headers?.get('retry-after'));
    return {
      kind: 'retryable',
      message: `OpenAI rate limit: ${error.message}`,
      ...(Number.isFinite(seconds) && seconds > 0 ? { retryAfterMs: seconds * 1000 } : {}),
    };
  }
  if (error instanceof OpenAI.APIError) {
    const status: number = typeof error.status === 'number' ? error.status : 0;
    if (status === 408 || status === 409 || status >= 500) return { kind: 'retryable', message: `OpenAI ${status}: ${error.message}` };
    return { kind: 'rejected', message: `OpenAI ${status}: ${error.message}` };
  }
  return { kind: 'retryable', message: `OpenAI call failed: ${String(error)}` };
}
