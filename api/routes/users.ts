import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { CampaignClient } from '../../client/campaigns.js';
import { listUsersSchema } from '../../client/validation.js';
import { errors, json, UserPageSchema } from '../schemas.js';

/** The CRM's user list: active users in id order, keyset-paged. */

const listUsers = createRoute({
  method: 'get',
  path: '/dn_users_list',
  tags: ['CRM'],
  summary: 'Active users in id order; pass nextCursor as cursor for the next page',
  request: { query: listUsersSchema },
  responses: { 200: json(UserPageSchema, 'A page of users'), ...errors(400) },
});

export function userRoutes(campaigns: CampaignClient) {
  return new OpenAPIHono().openapi(listUsers, async (c) => {
    const { items, nextCursor } = await campaigns.users(c.req.valid('query'));
    return c.json({ users: items, ...(nextCursor === undefined ? {} : { nextCursor }) }, 200);
  });
}
