/**
 * `npm run setup:temporal-server`: builds the self-hosted Temporal server — the same release
 * docker-compose.yml runs as `temporalio/server` — from its Go module, with its schema tool, into
 * `.tools/temporal-server/bin/` (`server`, `temporal-sql-tool`). The machines this project runs on
 * reach the Go module proxy but not Docker Hub. It needs Go (1.26 here) and takes about five
 * minutes on two cores; Docker users need none of it. Run it again to rebuild; `--if-missing`
 * keeps binaries that run.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { displayPath, isExecutable, lastLine, projectRoot } from './install-pip-tool.js';

/** The Temporal server release of docker-compose.yml (its server and admin-tools images). */
export const TEMPORAL_SERVER_VERSION = '1.30.1';
const MODULE = 'go.temporal.io/server';
export const DEFAULT_SERVER_TOOLS_DIR = join(projectRoot, '.tools/temporal-server');

export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
  /** The release's SQL schema, from the module source: `postgresql/v12/temporal` and `…/visibility`. */
  schemaDir: string;
}

const execFileAsync = promisify(execFile);

export class TemporalServerSetupError extends Error {
  override name = 'TemporalServerSetupError';
}

/** Where a build into `toolsDir` puts the binaries, and where Go keeps the module's schema. */
export async function serverBinaries(toolsDir = DEFAULT_SERVER_TOOLS_DIR, go = 'go'): Promise<TemporalServerBinaries> {
  const modCache = (await execFileAsync(go, ['env', 'GOMODCACHE'])).stdout.trim();
  return {
    server: join(toolsDir, 'bin', 'server'),
    sqlTool: join(toolsDir, 'bin', 'temporal-sql-tool'),
    schemaDir: join(modCache, `${MODULE}@v${TEMPORAL_SERVER_VERSION}`, 'schema'),
  };
}

/** Builds both binaries with `go install` (GOBIN = the tools dir), printing Go's output as it goes. */
export async function installTemporalServer({ toolsDir = DEFAULT_SERVER_TOOLS_DIR, go = 'go', ifMissing = false } = {}): Promise<TemporalServerBinaries> {
  try {
    await execFileAsync(go, ['version']);
  } catch (err) {
    throw new TemporalServerSetupError(`Go is needed to build the Temporal server (${lastLine(err)}); install Go, or run the server from docker-compose.yml instead`);
  }
  const binaries = await serverBinaries(toolsDir, go);
  if (ifMissing && (await isExecutable(binaries.server)) && (await isExecutable(binaries.sqlTool))) return binaries;
  const bin = join(toolsDir, 'bin');
  await mkdir(bin, { recursive: true });
  const packages = ['cmd/server', 'cmd/tools/sql'].map((p) => `${MODULE}/${p}@v${TEMPORAL_SERVER_VERSION}`);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(go, ['install', ...packages], { env: { ...process.env, GOBIN: bin, CGO_ENABLED: '0' }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new TemporalServerSetupError(`go install ${packages.join(' ')} failed (exit ${code}); its output is above`);
  // `go install` names the schema tool after its package directory.
  await rename(join(bin, 'sql'), binaries.sqlTool);
  return binaries;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  installTemporalServer({ ifMissing: process.argv.includes('--if-missing') }).then(
    (binaries) => {
      console.log(`Temporal server ${TEMPORAL_SERVER_VERSION} in ${displayPath(binaries.server)} (and temporal-sql-tool), ${Math.round((Date.now() - started) / 1000)} s`);
    },
    (err: unknown) => {
      console.error(err instanceof TemporalServerSetupError ? err.message : err);
      process.exitCode = 1;
    },
  );
}
