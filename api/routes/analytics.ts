import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AnalyticsClient } from '../../client/analytics.js';
import { analyticsRangeSchema, listSuppressionsSchema } from '../../client/validation.js';
import { CampaignParams, errors, json } from '../schemas.js';

/** The analytics read side (what Mailgun's events made of campaigns) and the suppression list. */

const count = z.number().int();
const CountersSchema = z
  .object({
    total: count,
    sent: count,
    failed: count.openapi({ description: 'Recipients the send could not hand to Mailgun' }),
    delivered: count,
    opened: count.openapi({ description: 'Every open' }),
    uniqueOpened: count.openapi({ description: 'Recipients who opened' }),
    clicked: count,
    uniqueClicked: count,
    bounced: count.openapi({ description: 'Permanent failures' }),
    complained: count,
    unsubscribed: count,
    temporaryFailed: count,
  })
  .openapi('EngagementCounters');

const rate = z.number().min(0);
const RatesSchema = z
  .object({ deliveryRate: rate, openRate: rate, clickRate: rate, bounceRate: rate, unsubscribeRate: rate, complaintRate: rate })
  .openapi('EngagementRates');

const CampaignAnalyticsSchema = z
  .object({ campaignId: z.string(), counters: CountersSchema, rates: RatesSchema, final: z.boolean(), updatedAt: z.string().nullable() })
  .openapi('CampaignAnalytics');

const SummarySchema = z
  .object({ from: z.string(), to: z.string(), type: z.string().nullable(), campaigns: count, counters: CountersSchema, rates: RatesSchema })
  .openapi('AnalyticsSummary');

const SuppressionPageSchema = z.object({
  items: z.array(z.object({ id: z.string(), email: z.string(), reason: z.string().nullable(), suppressedAt: z.string() })),
  nextCursor: z.string().optional(),
});

const UserParams = z.object({ user: z.string().min(1).max(320).openapi({ description: 'A user id or email address', example: '42' }) });

const campaignAnalytics = createRoute({
  method: 'get',
  path: '/campaigns/{id}/analytics',
  tags: ['Analytics'],
  summary: 'A campaign’s counters and rates, as Mailgun’s events made them',
  request: { params: CampaignParams },
  responses: { 200: json(CampaignAnalyticsSchema, 'Counters and rates'), ...errors(400, 404) },
});

const summary = createRoute({
  method: 'get',
  path: '/analytics',
  tags: ['Analytics'],
  summary: 'Totals and rates over the campaigns whose send started in [from, to) (default: the last 30 days)',
  request: { query: analyticsRangeSchema },
  responses: { 200: json(SummarySchema, 'Totals and rates'), ...errors(400) },
});

const suppressions = createRoute({
  method: 'get',
  path: '/suppressions',
  tags: ['Suppressions'],
  summary: 'Users who get no campaigns (unsubscribed, complained, bounced), in id order',
  request: { query: listSuppressionsSchema },
  responses: { 200: json(SuppressionPageSchema, 'A page; pass nextCursor as cursor for the next'), ...errors(400) },
});

const lift = createRoute({
  method: 'delete',
  path: '/suppressions/{user}',
  tags: ['Suppressions'],
  summary: 'Let a user receive campaigns again after a bounce or a complaint (admin; their unsubscribes stay: only they can subscribe again)',
  request: { params: UserParams, query: z.object({ reason: z.string().openapi({ description: 'Why: kept in the audit log' }) }) },
  responses: {
    200: json(
      z.object({ userId: z.string(), lifted: z.boolean(), streamsLifted: z.array(z.string()), unsubscribedKept: z.array(z.string()) }),
      'lifted: false if nothing was suppressed',
    ),
    ...errors(400, 403, 404),
  },
});

export function analyticsRoutes(analytics: AnalyticsClient) {
  return new OpenAPIHono()
    .openapi(campaignAnalytics, async (c) => {
      const result = await analytics.campaign(c.req.valid('param').id);
      return c.json({ ...result, updatedAt: result.updatedAt?.toISOString() ?? null }, 200);
    })
    .openapi(summary, async (c) => {
      const result = await analytics.summary(c.req.valid('query'));
      return c.json({ ...result, from: result.from.toISOString(), to: result.to.toISOString() }, 200);
    })
    .openapi(suppressions, async (c) => {
      const result = await analytics.suppressions(c.req.valid('query'));
      return c.json({ ...result, items: result.items.map((s) => ({ ...s, suppressedAt: s.suppressedAt.toISOString() })) }, 200);
    })
    .openapi(lift, async (c) => c.json(await analytics.liftSuppression(c.req.valid('param').user, { reason: c.req.valid('query').reason }), 200));
}
