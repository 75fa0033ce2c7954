import { createHash, timingSafeEqual } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { ApiError } from './errors.js';
import { actingAs } from '../client/acting.js';
import { grants, type ApiKey } from './keys.js';
import { routeScope } from './scopes.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** Who is asking, as idempotency scopes and the audit log name them: `api:<key name>`. */
    caller: string;
  }
}

/**
 * Requires an `x-api-key` header whose SHA-256 is one of `keys`', holding the scope the route needs
 * (api/scopes.ts). Digests are compared in constant time against every key with no early exit, so
 * timing tells neither which key matched nor its length. 401 without a known key, 403 naming the
 * missing scope.
 */
export function apiKeyAuth(keys: readonly ApiKey[]) {
  if (keys.length === 0) throw new Error('the API needs at least one key');
  const digests = keys.map((key) => ({ key, digest: Buffer.from(key.sha256, 'hex') }));
  return createMiddleware(async (c, next) => {
    const given = createHash('sha256').update(c.req.header('x-api-key') ?? '').digest();
    const matched = digests.reduce<ApiKey | undefined>((found, { key, digest }) => (timingSafeEqual(given, digest) ? key : found), undefined);
    if (!matched) throw new ApiError(401, 'unauthorized', 'Missing or invalid x-api-key header');
    const needed = routeScope(c.req.method, c.req.path);
    if (needed && !grants(matched, needed.scope)) {
      throw new ApiError(403, 'forbidden', `the key "${matched.name}" lacks the ${needed.scope} scope that ${needed.route} needs`);
    }
    c.set('caller', `api:${matched.name}`);
    // What the request changes is recorded in the audit log as this key's doing, with the request's id.
    await actingAs({ name: `api:${matched.name}`, requestId: c.var.requestId }, next);
  });
}
