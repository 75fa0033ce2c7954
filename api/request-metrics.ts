import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import type { ApiMetrics } from '../metrics/api.js';

/** The pattern of the route a request matched (`/campaigns/:id`), or `unmatched`: never its path. */
export function routeOf(c: Context): string {
  return matchedRoutes(c).filter((r) => r.method !== 'ALL').at(-1)?.path ?? 'unmatched';
}

/**
 * Counts each request by the route it matched (its pattern, never the path: ids and tokens stay out
 * of the labels) and status, and times it. Requests no route matched are `unmatched`.
 */
export function countRequests(metrics: ApiMetrics) {
  return createMiddleware(async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = routeOf(c);
      const { method } = c.req;
      metrics.requests.inc({ route, method, status: String(c.res.status) });
      metrics.duration.observe({ route, method }, (performance.now() - started) / 1000);
    }
  });
}
