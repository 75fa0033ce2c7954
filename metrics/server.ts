import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** e.g. http://127.0.0.1:9464/metrics */
  url: string;
  stop(): Promise<void>;
}

export interface MetricsServerOptions {
  /** host:port to listen on (port 0: any free port). */
  address: string;
  registry: Registry;
  /** Other exposition endpoints of this process served in the same answer (the Temporal SDK's own). */
  alongside?: readonly string[];
}

/** Splits host:port (IPv6 hosts in brackets). */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(address);
  const port = Number(match?.[2]);
  if (!match?.[1] || !(port >= 0 && port <= 65535)) throw new Error(`not a host:port address: ${JSON.stringify(address)}`);
  return { host: match[1], port };
}

/**
 * GET /metrics on its own listener, never on the public API: the process's registry, then the
 * Temporal SDK's figures fetched from its exporter on loopback, so Prometheus scrapes one URL per process.
 */
export async function startMetricsServer({ address, registry, alongside = [] }: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = parseAddress(address);
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    exposition(registry, alongside).then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${String(error)}\n`),
    );
  });
  server.listen(port, host);
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`,
    stop: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

async function exposition(registry: Registry, alongside: readonly string[]): Promise<string> {
  const parts = await Promise.all([
    registry.metrics(),
    ...alongside.map(async (url) => {
      // The SDK's exporter answers from memory on loopback; if it does not, our own figures still go out.
      const answer = await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      return answer?.ok ? answer.text() : `# the Temporal SDK's metrics at ${url} did not answer\n`;
    }),
  ]);
  return parts.map((part) => (part.endsWith('\n') ? part : `${part}\n`)).join('');
}
