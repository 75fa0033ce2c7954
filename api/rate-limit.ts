import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * A limit on requests per client address for routes anyone may call. Kept in each API
 * instance's memory: with N instances behind a balancer a client gets up to N times the limit.
 */

export interface RateLimit {
  /** Requests per window and address. */
  points: number;
  windowSeconds: number;
}

function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // not served by @hono/node-server (an in-process app.request)
  }
}

/** 429 with Retry-After once an address has used its requests of the window. */
export function perClientRateLimit(name: string, { points, windowSeconds }: RateLimit): MiddlewareHandler {
  const limiter = new RateLimiterMemory({ keyPrefix: name, points, duration: windowSeconds });
  return async (c, next) => {
    try {
      await limiter.consume(clientAddress(c));
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      c.header('Retry-After', String(seconds));
      return c.text(`Too many requests from your address: try again in ${seconds} s`, 429);
    }
    await next();
  };
}
