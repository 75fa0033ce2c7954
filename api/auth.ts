import { createHash, timingSafeEqual } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { ApiError } from './errors.js';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/**
 * Requires an `x-api-key` header equal to one of `keys`. Keys are compared as
 * SHA-256 digests (equal-length buffers) in constant time, against every key
 * with no early exit, so timing tells neither which key matched nor its length.
 */
export function apiKeyAuth(keys: readonly string[]) {
  if (keys.length === 0) throw new Error('the API needs at least one key');
  const digests = keys.map(digest);
  return createMiddleware(async (c, next) => {
    const given = digest(c.req.header('x-api-key') ?? '');
    const matched = digests.reduce((found, key) => timingSafeEqual(given, key) || found, false);
    if (!matched) throw new ApiError(401, 'unauthorized', 'Missing or invalid x-api-key header');
    await next();
  });
}
