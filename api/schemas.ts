import { z } from '@hono/zod-openapi';
import { CAMPAIGN_STATUSES, CAMPAIGN_TYPES, isBigintId, SUBSCRIPTION_STATUSES } from '../common/campaign.js';

/**
 * Path, header and response schemas of the HTTP layer. Request bodies and
 * queries reuse client/validation.ts, so the API and the library refuse the same input.
 * Responses document the fields callers rely on; objects may carry more.
 */

export const API_KEY_SCHEME = 'apiKey';

const decimalId = z.string().refine(isBigintId, 'must be a positive integer of at most 19 digits (at most 9223372036854775807)');

export const CampaignParams = z.object({ id: decimalId.openapi({ example: '42' }) });

/** `?live=true`: ask the running workflow (a Temporal query) instead of Aurora. */
export const LiveQuery = z.object({
  live: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true')
    .openapi({ description: 'true: ask the running workflow (a Temporal query) instead of Aurora, which answers by default' }),
});

export const BatchParams = CampaignParams.extend({
  batchNo: z
    .string()
    .regex(/^\d{1,9}$/, 'must be a batch number')
    .transform(Number)
    .openapi({ example: '3' }),
});

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: 'A retried request with the same key returns the first campaign instead of creating another.' }),
});

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_request' }),
      message: z.string(),
      fields: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi('Error');

const status = z.enum(CAMPAIGN_STATUSES);

export const CampaignSchema = z
  .object({
    id: decimalId,
    name: z.string(),
    type: z.enum(CAMPAIGN_TYPES),
    status,
    configVersion: z.number().int(),
    totalRecipients: z.number().int().nullable(),
    failureReason: z.string().nullable(),
    attentionReason: z.string().nullable().openapi({ description: 'Why it waits for an operator, while its status is needs-attention' }),
    createdAt: z.string(),
  })
  .openapi('Campaign');

export const LifecycleStateSchema = z
  .object({ campaignId: decimalId, phase: status, configVersion: z.number().int(), hasContent: z.boolean() })
  .openapi('LifecycleState');

export const SendProgressSchema = z
  .object({
    campaignId: decimalId,
    status,
    total: z.number().int(),
    sent: z.number().int(),
    failed: z.number().int(),
    inFlight: z.number().int(),
    paused: z.boolean(),
    batchesTotal: z.number().int(),
    batchesDone: z.number().int(),
    audienceComplete: z.boolean(),
    parkedBatches: z.array(z.number().int()),
    unknownBatches: z.array(z.number().int()),
    rate: z
      .object({
        domain: z.string(),
        domainPerSecond: z.number(),
        currentPerSecond: z.number(),
        campaignPerSecond: z.number().nullable(),
      })
      .optional()
      .openapi({ description: "The domain's shared rate budget (as configured and as Mailgun's 429s have left it) and the campaign's own ceiling" }),
    attention: z.string().optional().openapi({ description: 'Why the send waits for an operator (status needs-attention): the brake, or batches of unknown outcome' }),
    brake: z
      .object({
        kind: z.enum(['bounces', 'complaints']),
        percent: z.number(),
        limitPercent: z.number(),
        delivered: z.number().int(),
        bounced: z.number().int(),
        complained: z.number().int(),
        reason: z.string(),
      })
      .optional()
      .openapi({ description: 'The brake holding the send (live progress only): resume or cancel it' }),
  })
  .openapi('SendProgress');

export const AudiencePreviewSchema = z
  .object({ count: z.number().int(), sampleUserIds: z.array(decimalId), configVersion: z.number().int() })
  .openapi('AudiencePreview');

export const CampaignReportSchema = z
  .object({
    campaign: CampaignSchema,
    stats: z.object({ total: z.number().int(), sent: z.number().int(), failed: z.number().int() }).optional(),
    ledger: z.array(z.object({ state: z.string(), parts: z.number().int(), recipients: z.number().int() })),
    unsettled: z.array(z.object({ batchNo: z.number().int(), state: z.enum(['sending', 'unknown']), attempts: z.number().int() })),
    failedRecipients: z.array(z.object({ userId: decimalId, email: z.string(), reason: z.string(), failedAt: z.string() })),
    transitions: z.array(z.object({ status, at: z.string(), actor: z.string().nullable().openapi({ example: 'api:crm' }) })),
    audit: z.array(z.lazy(() => AuditEntrySchema)).openapi({ description: 'Who did what to the campaign, oldest first' }),
    retries: z.array(z.lazy(() => RetryRoundSchema)).openapi({ description: 'Its retry rounds, first first' }),
    lifecycle: LifecycleStateSchema.nullable(),
  })
  .openapi('CampaignReport');

export const RetryRoundSchema = z
  .object({
    round: z.number().int(),
    status,
    reasonLike: z.string().nullable(),
    temporaryAfterMs: z.number(),
    requestedBy: z.string(),
    requestedAt: z.string(),
    firstOrdinal: z.number().int(),
    recipients: z.number().int(),
    unsent: z.number().int().openapi({ description: 'Recipients never sent before' }),
    resent: z.number().int().openapi({ description: 'Recipients sent before whose message failed temporarily' }),
    sent: z.number().int(),
    failed: z.number().int(),
    failureReason: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .openapi('RetryRound');

export const RetryStartedSchema = z
  .object({
    campaignId: decimalId,
    round: z.number().int().openapi({ description: 'The round started (or, for a dry run, the one that would be)' }),
    unsent: z.number().int(),
    resent: z.number().int(),
    inDoubt: z.number().int().openapi({ description: 'Recipients in parts of unknown outcome: never retried, an operator decides' }),
    reasons: z.array(z.object({ reason: z.string(), recipients: z.number().int() })),
    workflowId: z.string().optional(),
    dryRun: z.boolean(),
  })
  .openapi('RetryStarted');

export const AuditEntrySchema = z
  .object({
    id: decimalId,
    at: z.string(),
    actor: z.string().openapi({ example: 'api:crm' }),
    action: z.string().openapi({ example: 'approve' }),
    campaignId: decimalId.nullable(),
    details: z.record(z.string(), z.unknown()),
    requestId: z.string().nullable(),
  })
  .openapi('AuditEntry');

export const AuditPageSchema = z.object({ items: z.array(AuditEntrySchema), nextCursor: decimalId.optional() }).openapi('AuditPage');

export const CreatedSchema = z.object({ campaignId: decimalId });

export const CampaignPageSchema = z.object({ items: z.array(CampaignSchema), nextCursor: decimalId.optional() });

export const CancelResultSchema = z.object({ campaignId: decimalId, status });

export const UserSchema = z
  .object({
    id: decimalId,
    email: z.string(),
    name: z.string().nullable(),
    customId: z.string().nullable(),
    subscriptionStatus: z.enum(SUBSCRIPTION_STATUSES),
    emailTypes: z.array(z.string()),
  })
  .openapi('User');

export const UserPageSchema = z.object({ users: z.array(UserSchema), nextCursor: decimalId.optional() });

/** A JSON response, for a route's `responses`. */
export function json<S extends z.ZodType>(schema: S, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** A required JSON request body. */
export function jsonBody<S extends z.ZodType>(schema: S, required = true) {
  return { required, content: { 'application/json': { schema } } };
}

const ERRORS = {
  400: 'Invalid request: `fields` names each problem',
  401: 'Missing or wrong x-api-key',
  403: 'The key lacks the scope this route needs (the message names it)',
  404: 'No such campaign',
  409: 'Refused in the campaign’s current state: `conflict` (stale version), `wrong_phase`, `rejected`',
  413: 'The body is larger than the route takes (the message names the limit)',
  422: '`idempotency_mismatch`: the Idempotency-Key was used before for a different request',
  500: 'Internal error',
  502: 'The content generator (OpenAI) failed or refused',
} as const;

type ErrorStatus = keyof typeof ERRORS;

/** The error answers a protected route documents: the given ones, plus 401, 403 and 500. */
export function errors<S extends ErrorStatus>(...statuses: S[]) {
  const all = [...new Set<ErrorStatus>([...statuses, 401, 403, 500])];
  return Object.fromEntries(all.map((s) => [s, json(ErrorSchema, ERRORS[s])])) as Record<S | 401 | 403 | 500, ReturnType<typeof json<typeof ErrorSchema>>>;
}
