import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { TestWorkflowEnvironment, type EphemeralServerExecutable } from '@temporalio/testing';
import { freePort, isPortFree } from './ports.js';

const execFileAsync = promisify(execFile);
const projectRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** Names as the temporal CLI spells them (`--search-attribute Name=Keyword`) or as the SDK does (`KEYWORD`). */
export type CliSearchAttributeType = 'Text' | 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';
export interface DevServerSearchAttribute {
  name: string;
  type: CliSearchAttributeType | SearchAttributeType;
}

export interface TemporalDevServerOptions {
  ui?: boolean;
  uiPort?: number;
  port?: number;
  /** SQLite file to persist state across restarts; in-memory when omitted. */
  dbFilename?: string;
  namespace?: string;
  searchAttributes?: DevServerSearchAttribute[];
  extraArgs?: string[];
  /** Let the dev server log at info level instead of only errors. */
  log?: boolean;
}

export interface TemporalDevServer {
  /** host:port of the frontend gRPC service */
  address: string;
  namespace: string;
  uiUrl?: string;
  connection: Connection;
  env: TestWorkflowEnvironment;
  stop(): Promise<void>;
}

const cliToSdkType: Record<CliSearchAttributeType, SearchAttributeType> = {
  Text: SearchAttributeType.TEXT,
  Keyword: SearchAttributeType.KEYWORD,
  Int: SearchAttributeType.INT,
  Double: SearchAttributeType.DOUBLE,
  Bool: SearchAttributeType.BOOL,
  Datetime: SearchAttributeType.DATETIME,
  KeywordList: SearchAttributeType.KEYWORD_LIST,
};

function toSdkType(type: DevServerSearchAttribute['type']): SearchAttributeType {
  return type in cliToSdkType ? cliToSdkType[type as CliSearchAttributeType] : (type as SearchAttributeType);
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A pyenv shim exists for every installed Python version even where the tool is missing, so only a working `--version` counts. */
async function runsVersion(path: string): Promise<boolean> {
  try {
    await execFileAsync(path, ['--version'], { timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a temporal CLI binary: $TEMPORAL_CLI_PATH, then `temporal` on PATH, then `.tools/temporal/bin/temporal`.
 * `undefined` means none was found and the SDK should download one (needs internet).
 */
export async function resolveTemporalCli(): Promise<string | undefined> {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!(await isExecutable(fromEnv))) {
      throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} does not exist or is not executable`);
    }
    return fromEnv;
  }
  return (searched ??= searchTemporalCli());
}

// Probing PATH runs `temporal --version` (~100 ms through a pyenv shim), so do it once per process.
let searched: Promise<string | undefined> | undefined;

async function searchTemporalCli(): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'temporal');
    if ((await isExecutable(candidate)) && (await runsVersion(candidate))) return candidate;
  }
  const local = join(projectRoot, '.tools/temporal/bin/temporal');
  return (await isExecutable(local)) ? local : undefined;
}

/** Starts a real Temporal dev server (temporal CLI `server start-dev`) on 127.0.0.1. */
export async function startTemporalDevServer(opts: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const cli = await resolveTemporalCli();
  const executable: EphemeralServerExecutable = cli ? { type: 'existing-path', path: cli } : { type: 'cached-download' };
  const namespace = opts.namespace ?? 'default';
  const port = opts.port ?? (await freePort());
  // If the port is taken the CLI exits, but the SDK keeps waiting on whatever holds the port, forever.
  if (opts.port !== undefined && !(await isPortFree(port))) {
    throw new Error(`Temporal dev server: port ${port} on 127.0.0.1 is already in use`);
  }
  const ui = opts.ui ?? opts.uiPort !== undefined;
  // The SDK's default UI port is port + 1000, which nobody checked is free.
  const uiPort = ui ? (opts.uiPort ?? (await freePort())) : undefined;

  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable,
      ip: '127.0.0.1',
      port,
      ui,
      uiPort,
      dbFilename: opts.dbFilename,
      namespace,
      searchAttributes: (opts.searchAttributes ?? []).map(({ name, type }) => ({ name, type: toSdkType(type) })),
      log: { format: 'pretty', level: opts.log ? 'info' : 'error' },
      extraArgs: opts.extraArgs,
    },
  });

  let stopped: Promise<void> | undefined;
  return {
    address: env.address,
    namespace,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    connection: env.connection,
    env,
    stop: () => (stopped ??= env.teardown()),
  };
}
