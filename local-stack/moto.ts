import { spawn, type ChildProcess } from 'node:child_process';
import {
  DEFAULT_MOTO_DIR,
  MOTO_REQUIREMENT,
  SETUP_MOTO_HELP,
  findMoto,
  installMoto,
  motoEnv,
  type MotoInstallation,
} from './install-moto.js';
import { displayPath } from './install-pip-tool.js';
import { freePort, isPortFree } from './ports.js';

/**
 * moto's server (`moto_server`, PyPI `moto[server]`) on 127.0.0.1: S3 and Secrets Manager (and the rest of AWS)
 * over their real protocols, for the AWS SDK v3 clients with `endpoint` (and `forcePathStyle: true` for S3).
 * State lives in the process's memory and is lost on stop. Installed by `npm install` / `npm run setup:moto`
 * into .tools/moto (local-stack/install-moto.ts).
 */

export interface MotoOptions {
  /** Default: a free port. */
  port?: number;
  /** The pip prefix moto is installed in; default .tools/moto. */
  toolsDir?: string;
  /**
   * Installs moto into toolsDir when it is not there, or throws with the reason; false skips this step.
   * Default: as `npm run setup:moto` does, at most once per process and tools dir.
   */
  install?: false | ((toolsDir: string) => Promise<unknown>);
  /** How long to wait for it to answer HTTP; default 20 000 ms. */
  startTimeoutMs?: number;
  /** Progress lines (installing); default stderr. */
  log?: (line: string) => void;
}

export interface MotoServer {
  /** `http://127.0.0.1:PORT`, the `endpoint` for every AWS SDK client. */
  endpoint: string;
  region: 'us-east-1';
  /** moto accepts any credentials; these are its documented ones. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Milliseconds from spawning moto_server to its first HTTP answer. */
  startupMs: number;
  /** Kills moto_server and waits for it to exit. */
  stop(): Promise<void>;
}

/** moto is not installed and could not be installed: the message says what to run. */
export class MotoUnavailableError extends Error {
  override readonly name = 'MotoUnavailableError';
}

const installs = new Map<string, Promise<unknown>>();

/** Installs once per process and tools dir: a second startMoto after a failed install does not try again. */
function installOnce(toolsDir: string, log: ((line: string) => void) | undefined): Promise<unknown> {
  let install = installs.get(toolsDir);
  if (!install) {
    install = installMoto({ toolsDir, log });
    installs.set(toolsDir, install);
  }
  return install;
}

async function locateMoto(opts: MotoOptions): Promise<MotoInstallation> {
  const toolsDir = opts.toolsDir ?? DEFAULT_MOTO_DIR;
  const found = await findMoto(toolsDir);
  if (found.ok) return found;
  const where = `${MOTO_REQUIREMENT} in ${displayPath(toolsDir)}`;
  if (opts.install === false) throw new MotoUnavailableError(`moto is not installed (${found.reason}). ${SETUP_MOTO_HELP}`);
  try {
    await (opts.install ? opts.install(toolsDir) : installOnce(toolsDir, opts.log));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new MotoUnavailableError(`moto is not installed (${found.reason}), and installing ${where} failed: ${reason}. ${SETUP_MOTO_HELP}`);
  }
  const installed = await findMoto(toolsDir);
  if (installed.ok) return installed;
  throw new MotoUnavailableError(`installing ${where} finished, but moto is still not there: ${installed.reason}. ${SETUP_MOTO_HELP}`);
}

/** The last `max` characters a process wrote to stdout and stderr, interleaved. */
function captureOutput(child: ChildProcess, max = 8192): () => string {
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-max);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => output.trim();
}

/** Resolves once `url` answers HTTP at all (any status); rejects when `failed` does or after `timeoutMs`. */
async function waitForHttp(url: string, timeoutMs: number, failed: Promise<never>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  let done = false;
  const poll = async () => {
    while (!done && Date.now() < deadline) {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        return;
      } catch (err) {
        const cause: unknown = err instanceof Error ? err.cause : undefined;
        lastError = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!done) throw new Error(`it did not answer HTTP at ${url} within ${timeoutMs} ms (last: ${lastError})`);
  };
  try {
    await Promise.race([poll(), failed]);
  } finally {
    done = true;
  }
}

/** Starts moto_server on 127.0.0.1 (installing moto first when it is missing), and waits until it answers HTTP. */
export async function startMoto(opts: MotoOptions = {}): Promise<MotoServer> {
  const moto = await locateMoto(opts);
  const port = opts.port ?? (await freePort());
  if (opts.port !== undefined && !(await isPortFree(port))) {
    throw new Error(`moto: port ${port} on 127.0.0.1 is already in use`);
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(moto.entryPoint, ['-H', '127.0.0.1', '-p', String(port)], {
    env: motoEnv(moto),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = captureOutput(child);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  // A server left running would keep the port, and the parent's event loop, alive: kill it when node exits.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const failed = new Promise<never>((_resolve, reject) => {
    child.once('error', (err) => reject(new Error(`could not run ${moto.entryPoint}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      reject(new Error(`moto_server exited (${signal ?? `code ${code}`}) before answering HTTP`));
    });
  });
  failed.catch(() => {}); // only awaited while starting

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    })());

  try {
    await waitForHttp(`${endpoint}/moto-api/`, opts.startTimeoutMs ?? 20_000, failed);
  } catch (err) {
    await stop();
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      `moto (${moto.version}, ${displayPath(moto.entryPoint)}) did not start on ${endpoint}: ${message}. Its output:\n${output() || '(none)'}`,
      { cause: err },
    );
  }
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    startupMs: Math.round(performance.now() - started),
    stop,
  };
}
