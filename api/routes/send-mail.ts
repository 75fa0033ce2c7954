import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { CampaignClient } from '../../client/campaigns.js';
import { sendMailSchema } from '../../client/validation.js';
import { errors, IdempotencyHeaders, json, jsonBody } from '../schemas.js';

/** The CRM's send-mail contract: a campaign to a list of users (or everyone subscribed) that goes straight to sending. */

const SendMailResultSchema = z
  .object({
    success: z.literal(true),
    campaign: z.object({ id: z.string() }),
    recipientCount: z.number().int(),
  })
  .openapi('SendMailResult');

const sendMail = createRoute({
  method: 'post',
  path: '/send-mail',
  tags: ['CRM'],
  summary: 'Send an email to known users, or to everyone subscribed to its type',
  request: { headers: IdempotencyHeaders, body: jsonBody(sendMailSchema) },
  responses: {
    200: json(SendMailResultSchema, 'The campaign, sending (the first one, for a repeated Idempotency-Key)'),
    ...errors(400, 422),
  },
});

export function sendMailRoutes(campaigns: CampaignClient) {
  return new OpenAPIHono().openapi(sendMail, async (c) => {
    const key = c.req.valid('header')['idempotency-key'];
    const { campaignId, recipientCount } = await campaigns.sendMail(c.req.valid('json'), key === undefined ? undefined : { caller: c.var.caller, key });
    return c.json({ success: true as const, campaign: { id: campaignId }, recipientCount }, 200);
  });
}
