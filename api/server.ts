import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createApiApp, type ApiAppOptions } from './app.js';

export interface ApiServer {
  /** Where it listens, e.g. http://127.0.0.1:3000. */
  url: string;
  /** Stops accepting connections and resolves once in-flight requests have been answered. */
  stop(): Promise<void>;
}

/** Serves the API on host:port (port 0: any free port). Rejects if it cannot listen. */
export async function startApiServer({ host, port, ...options }: ApiAppOptions & { host: string; port: number }): Promise<ApiServer> {
  const server = serve({ fetch: createApiApp(options).fetch, hostname: host, port });
  await once(server, 'listening');
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    stop: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
