import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import type { CampaignClient } from '../../client/campaigns.js';
import { approveSchema, generateContentSchema, resolveBatchSchema, retryFailedSchema } from '../../client/validation.js';
import {
  AudiencePreviewSchema,
  BatchParams,
  CampaignParams,
  CancelResultSchema,
  errors,
  json,
  jsonBody,
  LifecycleStateSchema,
  LiveQuery,
  RetryStartedSchema,
  SendProgressSchema,
} from '../schemas.js';

/** The steps of a campaign's lifecycle and the controls of its send, each a POST on the campaign. */

const tags = ['Campaign actions'];

function action<const A extends string, S extends z.ZodType>(name: A, summary: string, response: S, description: string) {
  return createRoute({
    method: 'post',
    path: `/campaigns/{id}/${name}`,
    tags,
    summary,
    request: { params: CampaignParams },
    responses: { 200: json(response, description), ...errors(400, 404, 409) },
  });
}

const generateContent = createRoute({
  ...action('generate-content', 'Draft subject and body with AI', LifecycleStateSchema, 'The lifecycle state with the draft'),
  request: { params: CampaignParams, body: jsonBody(generateContentSchema, false) },
  responses: { 200: json(LifecycleStateSchema, 'The lifecycle state with the draft'), ...errors(400, 404, 409, 502) },
});

const approve = createRoute({
  ...action('approve', 'Freeze content and audience; send now or at sendAt', LifecycleStateSchema, 'The lifecycle state once approved'),
  request: { params: CampaignParams, body: jsonBody(approveSchema, false) },
});

const resolveBatch = createRoute({
  method: 'post',
  path: '/campaigns/{id}/batches/{batchNo}/resolve',
  tags,
  summary: 'Settle a batch whose outcome Mailgun’s logs could not prove',
  request: { params: BatchParams, body: jsonBody(resolveBatchSchema.omit({ batchNo: true })) },
  responses: { 200: json(SendProgressSchema, 'Send progress after settling'), ...errors(400, 404, 409) },
});

const retryFailed = createRoute({
  method: 'post',
  path: '/campaigns/{id}/retry-failed',
  tags,
  summary: 'Send again to the recipients whose part failed for a reason that may since have been fixed, and only them',
  description:
    'Starts the campaign’s next retry round (README, "Retrying failed recipients"): recipients a failed send never reached, and those ' +
    'Mailgun reported a temporary failure for (once `temporaryAfterMinutes` old, default 480). Refused and suppressed addresses, ' +
    'and parts of unknown outcome, stay out. `dryRun` counts them, and why, without sending.',
  request: { params: CampaignParams, body: jsonBody(retryFailedSchema, false) },
  responses: {
    200: json(RetryStartedSchema, 'A dry run: who a round would send to'),
    202: json(RetryStartedSchema, 'The round started; `GET /campaigns/{id}` shows it under `retries`'),
    ...errors(400, 404, 409),
  },
});

const progress = createRoute({
  method: 'get',
  path: '/campaigns/{id}/progress',
  tags,
  summary: 'Counts, status and rate of the send (from Aurora unless live=true)',
  request: { params: CampaignParams, query: LiveQuery },
  responses: { 200: json(SendProgressSchema, 'Send progress'), ...errors(400, 404, 409) },
});

export function campaignActionRoutes(campaigns: CampaignClient) {
  return new OpenAPIHono()
    .openapi(generateContent, async (c) => c.json(await campaigns.generateContent(c.req.valid('param').id, c.req.valid('json')), 200))
    .openapi(action('preview-audience', 'Count the audience and sample it', AudiencePreviewSchema, 'The audience preview'), async (c) =>
      c.json(await campaigns.previewAudience(c.req.valid('param').id), 200),
    )
    .openapi(action('preview', 'Send the content to the test addresses', LifecycleStateSchema, 'The lifecycle state'), async (c) =>
      c.json(await campaigns.preview(c.req.valid('param').id), 200),
    )
    .openapi(approve, async (c) => c.json(await campaigns.approve(c.req.valid('param').id, c.req.valid('json')), 200))
    .openapi(action('pause', 'Pause sending', SendProgressSchema, 'Send progress'), async (c) =>
      c.json(await campaigns.pause(c.req.valid('param').id), 200),
    )
    .openapi(action('resume', 'Resume sending', SendProgressSchema, 'Send progress'), async (c) =>
      c.json(await campaigns.resume(c.req.valid('param').id), 200),
    )
    .openapi(action('cancel', 'Stop the campaign for good', CancelResultSchema, 'The campaign’s status after cancelling'), async (c) =>
      c.json(await campaigns.cancel(c.req.valid('param').id), 200),
    )
    .openapi(resolveBatch, async (c) => {
      const { id, batchNo } = c.req.valid('param');
      return c.json(await campaigns.resolveBatch(id, batchNo, c.req.valid('json').as), 200);
    })
    .openapi(retryFailed, async (c) => {
      const started = await campaigns.retryFailed(c.req.valid('param').id, c.req.valid('json'));
      return started.dryRun ? c.json(started, 200) : c.json(started, 202);
    })
    .openapi(progress, async (c) => c.json(await campaigns.progress(c.req.valid('param').id, c.req.valid('query')), 200));
}
