import type { Scope } from './keys.js';

/**
 * The scope each route needs, in one table: what a key holding it may do, and what the
 * "every route has a scope" test checks the OpenAPI document against. Paths as OpenAPI writes them.
 */
export const ROUTE_SCOPES: ReadonlyArray<readonly [method: string, path: string, scope: Scope]> = [
  ['GET', '/campaigns', 'read'],
  ['GET', '/campaigns/{id}', 'read'],
  ['GET', '/campaigns/{id}/progress', 'read'],
  ['GET', '/campaigns/{id}/analytics', 'read'],
  ['GET', '/analytics', 'read'],
  ['GET', '/suppressions', 'read'],
  ['GET', '/dn_users_list', 'read'],
  ['POST', '/campaigns', 'write'],
  ['PATCH', '/campaigns/{id}', 'write'],
  ['POST', '/campaigns/{id}/generate-content', 'write'],
  ['POST', '/campaigns/{id}/preview-audience', 'write'],
  ['POST', '/campaigns/{id}/preview', 'write'],
  ['POST', '/campaigns/{id}/approve', 'send'],
  ['POST', '/campaigns/{id}/pause', 'send'],
  ['POST', '/campaigns/{id}/resume', 'send'],
  ['POST', '/campaigns/{id}/cancel', 'send'],
  ['POST', '/campaigns/{id}/retry-failed', 'send'],
  ['POST', '/send-mail', 'send'],
  ['POST', '/campaigns/{id}/batches/{batchNo}/resolve', 'admin'],
  ['DELETE', '/suppressions/{user}', 'admin'],
  ['GET', '/audit', 'admin'],
];

const MATCHERS = ROUTE_SCOPES.map(([method, path, scope]) => ({
  method,
  pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
  path,
  scope,
}));

/** The route a request is for and the scope it needs; undefined for a path no route serves (a 404 anyway). */
export function routeScope(method: string, path: string): { route: string; scope: Scope } | undefined {
  const match = MATCHERS.find((m) => m.method === method.toUpperCase() && m.pattern.test(path));
  return match && { route: `${match.method} ${match.path}`, scope: match.scope };
}
