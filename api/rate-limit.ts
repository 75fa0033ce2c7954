import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Limits on requests: per client address for routes anyone may call (webhooks, unsubscribe
 * links), per API key for the rest. Kept in each API instance's memory: with N instances behind a
 * balancer a client gets up to N times the limit.
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

/** How a refusal is answered: plain text for people, JSON for machines. */
type Refuse = (c: Context, seconds: number) => Response;

const asText: Refuse = (c, seconds) => c.text(`Too many requests from your address: try again in ${seconds} s`, 429);

/** 429 with Retry-After once `keyOf` (the client's address by default) has used its requests of the window. */
export function rateLimit(
  name: string,
  { points, windowSeconds }: RateLimit,
  { keyOf = clientAddress, refuse = asText }: { keyOf?: (c: Context) => string; refuse?: Refuse } = {},
): MiddlewareHandler {
  const limiter = new RateLimiterMemory({ keyPrefix: name, points, duration: windowSeconds });
  return async (c, next) => {
    try {
      await limiter.consume(keyOf(c));
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      c.header('Retry-After', String(seconds));
      return refuse(c, seconds);
    }
    await next();
  };
}

/** A JSON 429 in the API's error shape. */
export function refuseAsJson(what: string): Refuse {
  return (c, seconds) => c.json({ error: { code: 'rate_limited', message: `Too many requests ${what}: try again in ${seconds} s` } }, 429);
}

export const perClientRateLimit = (name: string, limit: RateLimit): MiddlewareHandler => rateLimit(name, limit);
