import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of the S3 stand-in that can break requests for real:
 * answer 500 (S3's InternalError) to the next matching ones, or hold a matching
 * request until released. Everything else passes through untouched.
 */
export interface S3Proxy {
  endpoint: string;
  /** The next `count` requests whose URL matches `pattern` get a 500. */
  failNext(count: number, pattern: RegExp): void;
  /**
   * Holds the next request whose URL matches `pattern` (after letting `passing` such requests through first);
   * `held` resolves when it arrives, `release()` lets it through.
   */
  hold(pattern: RegExp, passing?: number): { held: Promise<void>; release(): void };
  /** Requests answered 500 so far. */
  readonly failed: number;
  stop(): Promise<void>;
}

export async function startS3Proxy(target: string): Promise<S3Proxy> {
  const upstream = new URL(target);
  const failures: Array<{ left: number; pattern: RegExp }> = [];
  const holds: Array<{ pattern: RegExp; passing: number; arrived(): void; gate: Promise<void> }> = [];
  let failed = 0;

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  };

  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    const failure = failures.find((f) => f.left > 0 && f.pattern.test(url));
    if (failure) {
      failure.left -= 1;
      failed += 1;
      req.resume();
      res.writeHead(500, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>');
      return;
    }
    const index = holds.findIndex((h) => h.pattern.test(url) && h.passing-- <= 0);
    const held = index >= 0 ? holds.splice(index, 1)[0] : undefined;
    if (!held) return forward(req, res);
    held.arrived();
    void held.gate.then(() => forward(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    failNext(count, pattern) {
      failures.push({ left: count, pattern });
    },
    hold(pattern, passing = 0) {
      let arrived!: () => void;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (arrived = resolve));
      const gate = new Promise<void>((resolve) => (release = resolve));
      holds.push({ pattern, passing, arrived, gate });
      return { held, release };
    },
    get failed() {
      return failed;
    },
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
