import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { CampaignClient } from '../../client/campaigns.js';
import { isBigintId } from '../../common/campaign.js';
import { AuditPageSchema, errors, json } from '../schemas.js';

const id = z.string().refine(isBigintId, 'must be a positive integer of at most 19 digits');

const AuditQuery = z.object({
  campaignId: id.optional(),
  actor: z.string().min(1).max(100).optional().openapi({ example: 'api:crm' }),
  cursor: id.optional().openapi({ description: "The previous page's nextCursor" }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const list = createRoute({
  method: 'get',
  path: '/audit',
  tags: ['Audit'],
  summary: 'The audit log (admin): who did what to which campaign, oldest first',
  request: { query: AuditQuery },
  responses: { 200: json(AuditPageSchema, 'A page; pass nextCursor as cursor for the next'), ...errors(400) },
});

export function auditRoutes(campaigns: CampaignClient) {
  return new OpenAPIHono().openapi(list, async (c) => {
    const { items, nextCursor } = await campaigns.audit(c.req.valid('query'));
    const entries = items.map((e) => ({ ...e, at: e.at.toISOString() }));
    return c.json(nextCursor === undefined ? { items: entries } : { items: entries, nextCursor }, 200);
  });
}
