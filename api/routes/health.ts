import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { json } from '../schemas.js';

const health = createRoute({
  method: 'get',
  path: '/health',
  tags: ['Operations'],
  summary: 'Liveness: the process answers (no key needed)',
  security: [],
  responses: { 200: json(z.object({ ok: z.literal(true) }), 'Alive') },
});

export function healthRoutes() {
  return new OpenAPIHono().openapi(health, (c) => c.json({ ok: true as const }, 200));
}
