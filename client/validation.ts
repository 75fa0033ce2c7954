import { z } from 'zod';
import { parseMailbox } from '../common/addresses.js';
import { MAX_BATCHES_PER_RUN, MAX_MAILGUN_RECIPIENTS } from '../common/batches.js';
import { BATCH_RESOLUTIONS, CAMPAIGN_STATUSES, CAMPAIGN_TYPES, isBigintId, SUBSCRIPTION_STATUSES } from '../common/campaign.js';

/** Input from triggers (library callers, CLI, HTTP): everything is checked before anything is written. */

const userId = z.string().refine(isBigintId, 'must be a user id (a positive integer, at most 9223372036854775807)');
const isoDateTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-12-01T09:00:00Z' });

/** A CR or LF would end the Subject header and start another: refused before trimming, which would hide one. */
const subject = z
  .string()
  .refine((v) => !/[\r\n]/.test(v), 'must not contain a line break (CR or LF)')
  .trim()
  .min(1)
  .max(998);
/** The most an html or text body may be: a newsletter is tens of KB; Gmail clips messages past 102 KB. */
export const MAX_BODY_BYTES = 512 * 1024;
const utf8 = new TextEncoder();
const body = z
  .string()
  .min(1)
  .refine((v) => v.length <= MAX_BODY_BYTES && utf8.encode(v).length <= MAX_BODY_BYTES, `must be at most ${MAX_BODY_BYTES / 1024} KB`);

/**
 * A sender: `addr@domain`, `Display Name <addr@domain>` or `"Quoted, Name" <addr@domain>`. Which domains
 * this deployment sends from is configuration, checked by CampaignClient.
 */
const from = z
  .string()
  .max(320)
  .superRefine((value, ctx) => {
    const mailbox = parseMailbox(value);
    if (typeof mailbox === 'string') ctx.addIssue(mailbox);
  })
  .trim();

export const audienceSchema = z
  .object({
    subscriptionStatuses: z.array(z.enum(SUBSCRIPTION_STATUSES)).min(1).optional(),
    emailType: z.string().trim().min(1).max(64).optional(),
    limit: z.number().int().positive().optional(),
    userIds: z.array(userId).min(1).max(100_000).optional(),
    hasReportId: z.boolean().optional(),
    requireReportLinks: z.boolean().optional(),
  })
  .strict();

export const contentSchema = z
  .object({
    subject,
    html: body.optional(),
    text: body.optional(),
    from: from.optional(),
  })
  .strict()
  .refine((c) => c.html !== undefined || c.text !== undefined, {
    message: 'needs html or text (or both)',
    path: ['html'],
  });

const reportYear = z.number().int().min(2000).max(2100);
const reportMonth = z.number().int().min(1).max(12);
const testAddresses = z.array(z.email()).max(20);

export const newCampaignSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    type: z.enum(CAMPAIGN_TYPES),
    content: contentSchema.optional(),
    audience: audienceSchema.default({}),
    reportYear: reportYear.optional(),
    reportMonth: reportMonth.optional(),
    testAddresses: testAddresses.optional(),
    sendAt: isoDateTime.optional(),
  })
  .strict()
  .refine((c) => (c.reportYear === undefined) === (c.reportMonth === undefined), {
    message: 'reportYear and reportMonth go together',
    path: ['reportMonth'],
  });

export const campaignChangesSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    type: z.enum(CAMPAIGN_TYPES).optional(),
    reportYear: reportYear.nullable().optional(),
    reportMonth: reportMonth.nullable().optional(),
    subject: subject.nullable().optional(),
    html: body.nullable().optional(),
    text: body.nullable().optional(),
    from: from.nullable().optional(),
    audience: audienceSchema.optional(),
    testAddresses: testAddresses.optional(),
    sendAt: isoDateTime.nullable().optional(),
  })
  .strict()
  .refine((c) => Object.keys(c).length > 0, { message: 'must change at least one field' });

export const configureSchema = z
  .object({
    expectedVersion: z.number().int().positive(),
    changes: campaignChangesSchema,
  })
  .strict();

export const generateContentSchema = z
  .object({
    prompt: z.string().trim().min(1).max(4000).optional(),
    model: z.string().trim().min(1).max(100).optional(),
  })
  .strict();

export const sendOptionsSchema = z
  .object({
    batchSize: z.number().int().positive().max(MAX_MAILGUN_RECIPIENTS).optional(),
    window: z.number().int().positive().max(64).optional(),
    ratePerSecond: z.number().positive().optional(),
    batchesPerRun: z.number().int().positive().max(MAX_BATCHES_PER_RUN).optional(),
  })
  .strict();

export const approveSchema = z
  .object({
    sendAt: isoDateTime.optional(),
    send: sendOptionsSchema.optional(),
    /** The configuration version the approver reviewed; a draft edited since answers 409. */
    expectedVersion: z.number().int().positive().optional(),
  })
  .strict();

export const retryFailedSchema = z
  .object({
    /** Only failures whose reason contains this text (case-insensitive). */
    reasonLike: z.string().trim().min(1).max(200).optional(),
    /** Temporary failures count once they are this old (Mailgun retries them itself for up to 8 hours). */
    temporaryAfterMinutes: z.number().int().min(0).max(30 * 24 * 60).optional(),
    /** Send tuning for the round; default: as the campaign was sent. */
    send: sendOptionsSchema.optional(),
    /** Count who would be retried, and why, without sending. */
    dryRun: z.boolean().optional(),
  })
  .strict();

export const resolveBatchSchema = z
  .object({
    batchNo: z.number().int().nonnegative(),
    as: z.enum(BATCH_RESOLUTIONS),
  })
  .strict();

export const listCampaignsSchema = z
  .object({
    status: z.enum(CAMPAIGN_STATUSES).optional(),
    type: z.enum(CAMPAIGN_TYPES).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    /** The previous page's `nextCursor`. */
    cursor: userId.optional(),
  })
  .strict();

export const listUsersSchema = z
  .object({
    subscriptionStatus: z.enum(SUBSCRIPTION_STATUSES).optional(),
    emailType: z.string().trim().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: userId.optional(),
  })
  .strict();

/** A time range of campaigns (by when their send started) for analytics; default the last 30 days. */
export const analyticsRangeSchema = z
  .object({
    from: isoDateTime.optional(),
    to: isoDateTime.optional(),
    type: z.enum(CAMPAIGN_TYPES).optional(),
  })
  .strict()
  .refine((r) => r.from === undefined || r.to === undefined || Date.parse(r.from) < Date.parse(r.to), {
    message: 'must be before `to`',
    path: ['from'],
  });

export const listSuppressionsSchema = z
  .object({
    reason: z.string().trim().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    /** The previous page's `nextCursor`. */
    cursor: userId.optional(),
  })
  .strict();

/** A user to lift the suppression of: by id or by address. */
/** Why an operator lifts a suppression: kept in the audit log. */
export const liftReasonSchema = z.string().trim().min(3, 'say why (at least 3 characters): it is kept in the audit log').max(500);

export const suppressedUserSchema = z.union([userId, z.email()], { error: 'must be a user id or an email address' });

/** The CRM's send-mail contract (the body DN_Send_Mail takes today): a campaign that goes straight to sending. */
export const sendMailSchema = z
  .object({
    to: z.array(z.email()).max(100_000).default([]),
    subject,
    html: body,
    text: body.optional(),
    from,
    campaign: z
      .object({
        name: z.string().trim().min(1).max(200),
        type: z.enum(CAMPAIGN_TYPES),
        month: z.coerce.number().int().min(1).max(12),
        year: z.coerce.number().int().min(2000).max(2100),
      })
      .strict(),
    /** Every subscribed user who accepts this type of email, instead of `to`. */
    sendAll: z.boolean().default(false),
    /**
     * Financial statements: each recipient's own signed links to their reports
     * for campaign.month/year, added below the email unless it places them itself.
     */
    attachReporting: z.boolean().default(false),
  })
  .strict()
  .refine((m) => m.sendAll || m.to.length > 0, { message: 'needs recipients, or sendAll: true', path: ['to'] })
  .refine((m) => !m.attachReporting || m.campaign.type === 'financial', {
    message: 'report links come with financial campaigns only (campaign.type must be financial)',
    path: ['attachReporting'],
  });

export type NewCampaignInput = z.input<typeof newCampaignSchema>;
export type ParsedCampaign = z.output<typeof newCampaignSchema>;
export type CampaignChangesInput = z.input<typeof campaignChangesSchema>;
export type ConfigureInput = z.input<typeof configureSchema>;
export type GenerateContentInput = z.input<typeof generateContentSchema>;
export type SendOptionsInput = z.input<typeof sendOptionsSchema>;
export type ApproveInput = z.input<typeof approveSchema>;
export type RetryFailedInput = z.input<typeof retryFailedSchema>;
export type ListCampaignsInput = z.input<typeof listCampaignsSchema>;
export type ListUsersInput = z.input<typeof listUsersSchema>;
export type SendMailInput = z.input<typeof sendMailSchema>;
export type AnalyticsRangeInput = z.input<typeof analyticsRangeSchema>;
export type ListSuppressionsInput = z.input<typeof listSuppressionsSchema>;

export interface FieldProblem {
  /** Dotted path of the field at fault, e.g. `campaign.audience.limit`. */
  field: string;
  message: string;
}

export class InvalidInputError extends Error {
  readonly problems: string[];

  constructor(readonly fields: FieldProblem[]) {
    const problems = fields.map((f) => (f.field ? `${f.field}: ${f.message}` : f.message));
    super(problems.join('; '));
    this.name = 'InvalidInputError';
    this.problems = problems;
  }
}

/** Parses or throws InvalidInputError whose message names each bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new InvalidInputError(
    parsed.error.issues.map((issue) => ({ field: [what, ...issue.path.map(String)].join('.'), message: issue.message })),
  );
}
