/**
 * Installs moto (PyPI `moto[server]`), the real-protocol stand-in for S3 and Secrets Manager that
 * local-stack/moto.ts runs, into `.tools/moto` with `pip install --prefix`.
 *
 *   npm run setup:moto          install unless `.tools/moto` already has a working moto 5.2.5;
 *                               exits 1 with what to do instead when that fails
 *   postinstall (--postinstall) the same, best effort: skipped when dev dependencies are omitted;
 *                               a failure prints one warning line and exits 0
 *
 * Options for tests: --tools-dir DIR (default .tools/moto), --python CMD (default python3).
 * Where pip puts it depends on the Python: `bin/` and `lib/python3.X/site-packages`, or with Debian's
 * `local/bin/` and `local/lib/python3.X/dist-packages` (pypa/pip#10978); findMoto() looks in both.
 */
import { join } from 'node:path';
import {
  displayPath,
  execFileAsync,
  exists,
  findScript,
  installPipTool,
  isExecutable,
  lastLine,
  projectRoot,
  runInstallerIfMain,
  sitePackagesDirs,
  type InstallOptions,
  type InstallerScript,
  type InstalledTool,
} from './install-pip-tool.js';

export const MOTO_VERSION = '5.2.5';
export const MOTO_REQUIREMENT = `moto[server]==${MOTO_VERSION}`;
export const DEFAULT_MOTO_DIR = join(projectRoot, '.tools/moto');

/** A moto found in a pip prefix: run `entryPoint` with PYTHONPATH = `pythonPath` (see motoEnv). */
export interface MotoInstallation {
  /** The `moto_server` script pip wrote; its #! names the Python it was installed with. */
  entryPoint: string;
  /** Every site-packages (or dist-packages) directory of the prefix. */
  pythonPath: string[];
  /** `moto 5.2.5` */
  version: string;
}

export type MotoLookup = ({ ok: true } & MotoInstallation) | { ok: false; reason: string };

/**
 * moto MOTO_VERSION in the prefix, found without running it: the `moto_server` entry point, and a site-packages
 * directory holding `moto-5.2.5.dist-info`.
 */
export async function findMoto(toolsDir: string = DEFAULT_MOTO_DIR): Promise<MotoLookup> {
  const entryPoint = await findScript(toolsDir, 'moto_server');
  const pythonPath = await sitePackagesDirs(toolsDir);
  const distInfo = `moto-${MOTO_VERSION}.dist-info`;
  const withMoto = [];
  for (const dir of pythonPath) if (await exists(join(dir, distInfo))) withMoto.push(dir);
  if (!entryPoint && withMoto.length === 0) return { ok: false, reason: `not installed in ${displayPath(toolsDir)}` };
  if (withMoto.length === 0) {
    return { ok: false, reason: `no ${distInfo} in ${pythonPath.map(displayPath).join(', ') || `a site-packages directory of ${displayPath(toolsDir)}`}` };
  }
  if (!entryPoint || !(await isExecutable(entryPoint))) {
    return { ok: false, reason: `no executable moto_server in ${displayPath(join(toolsDir, 'bin'))} or ${displayPath(join(toolsDir, 'local/bin'))}` };
  }
  return { ok: true, entryPoint, pythonPath, version: `moto ${MOTO_VERSION}` };
}

/** The environment to run the installation's `moto_server` in: PYTHONPATH is its site-packages, nothing else. */
export function motoEnv(installation: MotoInstallation, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, PYTHONPATH: installation.pythonPath.join(':') };
}

/**
 * findMoto, and `moto_server --help` runs: it imports moto's server and Flask, so an interrupted install or a
 * Python that has since gone does not count as installed. About 0.4 s.
 */
export async function probeMoto(toolsDir: string = DEFAULT_MOTO_DIR): Promise<MotoLookup> {
  const found = await findMoto(toolsDir);
  if (!found.ok) return found;
  try {
    await execFileAsync(found.entryPoint, ['--help'], { timeout: 30_000, env: motoEnv(found) });
    return found;
  } catch (err) {
    return { ok: false, reason: `${displayPath(found.entryPoint)} exists, but \`moto_server --help\` failed: ${lastLine(err)}` };
  }
}

/**
 * Makes `<toolsDir>` hold a working moto: returns at once when probeMoto passes, otherwise
 * `python3 -m pip install --prefix <toolsDir> 'moto[server]==5.2.5'`. Throws a PipInstallError whose message is
 * the reason (no python3, no pip, PyPI unreachable, ...).
 */
export function installMoto(opts: Partial<InstallOptions> = {}): Promise<InstalledTool> {
  return installPipTool(
    {
      label: 'moto',
      requirement: MOTO_REQUIREMENT,
      size: 'about 300 MB installed',
      probe: async (prefix) => {
        const probe = await probeMoto(prefix);
        return probe.ok ? { ok: true, path: probe.entryPoint, version: probe.version } : probe;
      },
    },
    { ...opts, toolsDir: opts.toolsDir ?? DEFAULT_MOTO_DIR },
  );
}

export const SETUP_MOTO_HELP =
  'Run `npm run setup:moto` (installs PyPI\'s moto[server] into .tools/moto; needs python3 with pip and access to PyPI).';

export const motoInstallerScript: InstallerScript = {
  label: 'moto',
  what: 'moto, the S3 and Secrets Manager stand-in',
  requirement: MOTO_REQUIREMENT,
  setupScript: 'setup:moto',
  defaultToolsDir: DEFAULT_MOTO_DIR,
  omitted: 'the AWS stand-in',
  install: installMoto,
  postinstallAdvice: 'Tests and npm start that need it will try again; or run `npm run setup:moto` once this is fixed.',
  setupAdvice: 'Needs python3 (3.9 or later) with pip and access to PyPI.',
};

runInstallerIfMain(import.meta.url, motoInstallerScript);
