import { Client, Connection } from '@temporalio/client';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { tracingClientInterceptors } from '../tracing/temporal.js';
import type { Config } from '../worker/config.js';

/** A Temporal client whose starts, signals and updates carry the caller's trace context (nothing, with tracing off). */
export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect({
    address: config.TEMPORAL_ADDRESS,
    ...(config.TEMPORAL_TLS || config.TEMPORAL_API_KEY ? { tls: true } : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: tracingClientInterceptors() });
}

/**
 * Registers the campaign search attributes on a self-hosted server (the dev
 * server gets them at start). Idempotent: attributes already there are skipped.
 */
export async function registerSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = CAMPAIGN_SEARCH_ATTRIBUTES.filter((attr) => !(attr.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return [];
  await client.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((attr) => [attr.name, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
  });
  return missing.map((attr) => attr.name);
}
