import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { ApiLogger } from '../errors.js';
import { json } from '../schemas.js';

const health = createRoute({
  method: 'get',
  path: '/health',
  tags: ['Operations'],
  summary: 'Liveness: the process answers (no key needed)',
  security: [],
  responses: { 200: json(z.object({ ok: z.literal(true) }), 'Alive') },
});

const CheckResults = z.record(z.string(), z.enum(['ok', 'unavailable'])).openapi({ example: { postgres: 'ok', temporal: 'ok', firestore: 'ok' } });
const ReadySchema = z.object({ ready: z.boolean(), checks: CheckResults }).openapi('Readiness');

const ready = createRoute({
  method: 'get',
  path: '/ready',
  tags: ['Operations'],
  summary: 'Readiness: every dependency answers (no key needed; what failed is logged, not shown)',
  security: [],
  responses: { 200: json(ReadySchema, 'Ready'), 503: json(ReadySchema, 'A dependency does not answer') },
});

/** A dependency's check: resolves when it answers. */
export type ReadinessCheck = () => Promise<unknown>;

export interface HealthRoutesOptions {
  /** By name (postgres, temporal, firestore); none: /ready answers ready. */
  checks?: Readonly<Record<string, ReadinessCheck>>;
  /** Each check's limit. */
  timeoutMs?: number;
  logger: ApiLogger;
}

export function healthRoutes({ checks = {}, timeoutMs = 3000, logger }: HealthRoutesOptions) {
  return new OpenAPIHono()
    .openapi(health, (c) => c.json({ ok: true as const }, 200))
    .openapi(ready, async (c) => {
      const results = await Promise.all(
        Object.entries(checks).map(async ([name, check]) => {
          try {
            await withTimeout(check(), timeoutMs);
            return [name, 'ok'] as const;
          } catch (error) {
            logger.error({ err: error, check: name }, `readiness: ${name} does not answer`);
            return [name, 'unavailable'] as const;
          }
        }),
      );
      const isReady = results.every(([, result]) => result === 'ok');
      return c.json({ ready: isReady, checks: Object.fromEntries(results) }, isReady ? 200 : 503);
    });
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
