import { z } from 'zod';
import { MAX_MAILGUN_RECIPIENTS } from '../common/batches.js';
import { BATCH_RESOLUTIONS, CAMPAIGN_TYPES, SUBSCRIPTION_STATUSES } from '../common/campaign.js';

/** Input from triggers (library callers, CLI, HTTP): everything is checked before anything is written. */

export const audienceSchema = z
  .object({
    subscriptionStatuses: z.array(z.enum(SUBSCRIPTION_STATUSES)).min(1).optional(),
    emailType: z.string().trim().min(1).max(64).optional(),
    limit: z.number().int().positive().optional(),
  })
  .strict();

export const contentSchema = z
  .object({
    subject: z.string().trim().min(1).max(998),
    html: z.string().min(1).optional(),
    text: z.string().min(1).optional(),
    from: z.string().trim().min(3).max(320).optional(),
  })
  .strict()
  .refine((c) => c.html !== undefined || c.text !== undefined, {
    message: 'needs html or text (or both)',
    path: ['html'],
  });

export const newCampaignSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    type: z.enum(CAMPAIGN_TYPES),
    content: contentSchema.optional(),
    audience: audienceSchema.default({}),
  })
  .strict();

export const sendOptionsSchema = z
  .object({
    batchSize: z.number().int().positive().max(MAX_MAILGUN_RECIPIENTS).optional(),
    window: z.number().int().positive().max(64).optional(),
    ratePerSecond: z.number().positive().optional(),
    batchesPerRun: z.number().int().positive().max(2000).optional(),
  })
  .strict();

export const resolveBatchSchema = z
  .object({
    batchNo: z.number().int().nonnegative(),
    as: z.enum(BATCH_RESOLUTIONS),
  })
  .strict();

export type NewCampaignInput = z.input<typeof newCampaignSchema>;
export type SendOptionsInput = z.input<typeof sendOptionsSchema>;

export class InvalidInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'InvalidInputError';
  }
}

/** Parses or throws InvalidInputError whose message names each bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new InvalidInputError(
    parsed.error.issues.map((issue) => `${what}${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`),
  );
}
