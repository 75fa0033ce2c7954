import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the local stand-in HTTP servers (Mailgun, OpenAI) share: listening, stopping, delays, replies. */

export interface Listening {
  server: Server;
  /** `http://host:port`, with 0.0.0.0 and :: shown as 127.0.0.1. */
  url: string;
}

/** Serves `handle` on host:port (0: a free port); a handler that throws answers through `onError`. */
export async function listen(
  host: string,
  port: number,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  onError: (res: ServerResponse, err: unknown) => void,
): Promise<Listening> {
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => onError(res, err));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return { server, url: `http://${urlHost(host)}:${bound}` };
}

/** Closes the server, and its keep-alive connections, which a plain close() would wait for. */
export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** Timers a server's faults wait on, all cancelled when it stops. */
export class PendingDelays {
  private readonly pending = new Set<() => void>();

  /** Resolves false if cancelled: the server stopped, or (given `res`) the client went away. */
  delay(ms: number, res?: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.pending.delete(cancel);
        res?.off('close', cancel);
        resolve(ok);
      };
      const cancel = (): void => finish(false);
      const timer = setTimeout(() => finish(true), ms);
      this.pending.add(cancel);
      res?.once('close', cancel);
    });
  }

  cancelAll(): void {
    for (const cancel of this.pending) cancel();
  }
}

export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Reads the request body to its end before replying, so the client never sees a reset mid-upload. */
export function drainThen(req: IncomingMessage, reply: () => void): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      reply();
      resolve();
    };
    if (req.readableEnded) return done();
    req.once('end', done);
    req.once('error', () => resolve());
    req.resume();
  });
}

/** False if the client had already gone away. */
export function respondJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): boolean {
  if (res.headersSent || res.destroyed) return false;
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
  return true;
}

/** A JSON body, at most `maxBytes`; what goes wrong is reported through the given errors. */
export function readJson(
  req: IncomingMessage,
  maxBytes: number,
  errors: { tooLarge: () => Error; notJson: () => Error; aborted: () => Error },
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > maxBytes) return reject(errors.tooLarge());
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(errors.notJson());
      }
    });
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(errors.aborted());
    });
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
