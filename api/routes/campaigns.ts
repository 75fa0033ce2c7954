import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { CampaignClient } from '../../client/campaigns.js';
import { configureSchema, listCampaignsSchema, newCampaignSchema } from '../../client/validation.js';
import {
  CampaignPageSchema,
  CampaignParams,
  CampaignReportSchema,
  CreatedSchema,
  errors,
  IdempotencyHeaders,
  json,
  jsonBody,
  LifecycleStateSchema,
  LiveQuery,
} from '../schemas.js';

const tags = ['Campaigns'];

const create = createRoute({
  method: 'post',
  path: '/campaigns',
  tags,
  summary: 'Create a draft campaign and start its lifecycle',
  request: { headers: IdempotencyHeaders, body: jsonBody(newCampaignSchema) },
  responses: { 201: json(CreatedSchema, 'The draft (the first one, for a repeated Idempotency-Key)'), ...errors(400, 422) },
});

const list = createRoute({
  method: 'get',
  path: '/campaigns',
  tags,
  summary: 'Campaigns, newest first, keyset-paged',
  request: { query: listCampaignsSchema },
  responses: { 200: json(CampaignPageSchema, 'A page; pass nextCursor as cursor for the next'), ...errors(400) },
});

const get = createRoute({
  method: 'get',
  path: '/campaigns/{id}',
  tags,
  summary: 'A campaign with its stats, ledger, failures and transitions (from Aurora); live=true adds the lifecycle state',
  request: { params: CampaignParams, query: LiveQuery },
  responses: { 200: json(CampaignReportSchema, 'The campaign report'), ...errors(400, 404) },
});

const configure = createRoute({
  method: 'patch',
  path: '/campaigns/{id}',
  tags,
  summary: 'Edit a draft under the configuration version the editor saw',
  request: { params: CampaignParams, body: jsonBody(configureSchema) },
  responses: { 200: json(LifecycleStateSchema, 'The lifecycle state after the edit'), ...errors(400, 404, 409) },
});

export function campaignRoutes(campaigns: CampaignClient) {
  return new OpenAPIHono()
    .openapi(create, async (c) => {
      const key = c.req.valid('header')['idempotency-key'];
      const campaignId = await campaigns.create(c.req.valid('json'), key === undefined ? {} : { idempotency: { caller: c.var.caller, key } });
      return c.json({ campaignId }, 201);
    })
    .openapi(list, async (c) => c.json(await campaigns.list(c.req.valid('query')), 200))
    .openapi(get, async (c) => c.json(await campaigns.get(c.req.valid('param').id, c.req.valid('query')), 200))
    .openapi(configure, async (c) => c.json(await campaigns.configure(c.req.valid('param').id, c.req.valid('json')), 200));
}
