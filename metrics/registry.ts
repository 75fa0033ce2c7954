import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * The process's one registry: Node's own figures (CPU, memory, event-loop lag), then whatever the
 * worker and API parts of the process register on it. Labels stay low-cardinality: campaign type,
 * outcome, route, domain — never a campaign id or an address.
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dn_' });
  return registry;
}
