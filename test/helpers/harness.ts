import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { CampaignClient } from '../../client/campaigns.js';
import { connectClient } from '../../client/temporal.js';
import { createPool } from '../../db/pool.js';
import { lifecycleOptions, loadConfig, senderDomains, type Config } from '../../worker/config.js';
import { connectFirestore, openActivityDeps, type FirestoreHandle } from '../../worker/connections.js';
import { createWorker } from '../../worker/worker.js';
import { bundleWorkflows } from '../../scripts/bundle-workflows.js';
import { buildWorker } from '../../scripts/build-worker.js';
import { after, before } from 'node:test';
import type { MailgunServer } from '../../local-stack/mailgun-server.js';
import { seedUsers, type SeedOptions, type SeedProfile } from '../../local-stack/seed.js';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local-stack/stack.js';
import { replayEveryHistory } from './replay.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Settings every test run uses on top of the stack's addresses. */
const TEST_SETTINGS: Record<string, string> = {
  // Our Mailgun stand-in records an accepted batch before it answers, so its events need no settling time.
  MAILGUN_EVENTS_SETTLE_MS: '0',
  MAILGUN_RATE_LIMIT_BACKOFF_MS: '300',
  MAILGUN_TIMEOUT_MS: '3000',
  LOG_LEVEL: 'warn',
  WORKER_SHUTDOWN_GRACE_MS: '5000',
  // Campaigns archive a few seconds after sending instead of 72 hours.
  TRACKING_WINDOW_MS: '3000',
  ANALYTICS_REFRESH_MS: '1000',
  // The stand-in's domain is MAILGUN_DOMAIN; the default MAILGUN_FROM and the tests' senders are on the production one.
  MAILGUN_FROM_DOMAINS: 'mg.distronation.com',
  // The tests' test addresses.
  PREVIEW_ALLOWED_DOMAINS: 'distronation.example,x.example',
  // The domain's shared budget stays out of the way: tests that pace a send give the campaign its own ceiling.
  SEND_RATE_PER_SECOND: '100000',
};

export interface RunningWorker {
  stop(): Promise<void>;
}

export interface ChildWorker extends RunningWorker {
  process: ChildProcess;
  /** SIGKILL: no shutdown, no cleanup, like a machine dying. */
  kill(): Promise<void>;
  output(): string;
}

export interface Harness {
  stack: LocalStack;
  config: Config;
  env: Record<string, string>;
  pool: Pool;
  temporal: Client;
  campaigns: CampaignClient;
  firestore: FirestoreHandle;
  mailgun: MailgunServer;
  /** An in-process worker; `settings` override the harness's for this worker only. */
  startWorker(settings?: Record<string, string>): Promise<RunningWorker>;
  spawnWorker(extraEnv?: Record<string, string>): Promise<ChildWorker>;
  /**
   * Replays every history on this Temporal server through the current workflow code; throws on any that
   * does not replay, or that holds one of `addresses` (recipients' addresses stay out of Temporal).
   */
  replayAll(addresses?: readonly string[]): Promise<number>;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

export async function startHarness(options: LocalStackOptions & { settings?: Record<string, string> } = {}): Promise<Harness> {
  if (!runtimeInstalled) {
    // Keep in-process workers quiet: warnings and errors only.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const stack = await startLocalStack(options);
  const env = {
    ...stack.env,
    ...TEST_SETTINGS,
    TEMPORAL_TASK_QUEUE: `campaigns-test-${process.pid}`,
    ...options.settings,
  };
  const config = loadConfig(env);
  const pool = createPool(config.DATABASE_URL, 4);
  const temporal = await connectClient(config);
  const firestore = connectFirestore(config);
  const campaigns = new CampaignClient({
    pool,
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    lifecycle: lifecycleOptions(config),
    senderDomains: senderDomains(config),
    previewDomains: config.PREVIEW_ALLOWED_DOMAINS,
  });
  const workers = new Set<RunningWorker>();
  const mailgun = stack.mailgun;
  if (!mailgun) throw new Error('the test harness needs the Mailgun stand-in');

  return {
    stack,
    config,
    env,
    pool,
    temporal,
    campaigns,
    firestore,
    mailgun,
    async startWorker(settings = {}) {
      const worker = await startInProcessWorker(loadConfig({ ...env, ...settings }));
      workers.add(worker);
      return { stop: async () => (workers.delete(worker), worker.stop()) };
    },
    async spawnWorker(extraEnv = {}) {
      const worker = await spawnWorkerProcess({ ...env, ...extraEnv });
      workers.add(worker);
      return worker;
    },
    async replayAll(addresses = []) {
      const { replayed, failures, mentions } = await replayEveryHistory(temporal, await workflowBundle(), addresses);
      if (failures.length > 0) {
        throw new Error(`${failures.length} of ${replayed} workflow histories do not replay on the current code:\n${failures.join('\n')}`);
      }
      if (mentions.length > 0) throw new Error(`recipients' addresses in Temporal histories:\n${mentions.slice(0, 20).join('\n')}`);
      return replayed;
    },
    async stop() {
      await Promise.allSettled([...workers].map((w) => w.stop()));
      await Promise.allSettled([pool.end(), temporal.connection.close(), firestore.close()]);
      await stack.stop();
    },
  };
}

async function startInProcessWorker(config: Config): Promise<RunningWorker> {
  const resources = openActivityDeps(config);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker: Worker = await createWorker(connection, config, resources.deps);
  const running = worker.run();
  let stopped: Promise<void> | undefined;
  return {
    stop: () =>
      (stopped ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
        await connection.close();
        await resources.close();
      })()),
  };
}

let bundle: Promise<string> | undefined;

/** Child workers share one prebuilt workflow bundle, as production workers do. */
function workflowBundle(): Promise<string> {
  bundle ??= bundleWorkflows(join(mkdtempSync(join(tmpdir(), 'campaign-workflows-')), 'workflow-bundle.js'));
  return bundle;
}

/**
 * `npm run worker` as the harness runs it (its environment settings, then
 * node's arguments), with the worker built once per test process as its
 * `preworker` step builds it: tests run the worker exactly as documented.
 */
async function workerCommand(): Promise<{ env: Record<string, string>; args: string[] }> {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: { worker: string } };
  const words = pkg.scripts.worker.split(/\s+/);
  const env: Record<string, string> = {};
  while (words[0]?.includes('=')) {
    const [name, value] = (words.shift() as string).split('=') as [string, string];
    env[name] = value;
  }
  const [node, ...args] = words;
  if (node !== 'node') throw new Error(`npm run worker should start with node: ${pkg.scripts.worker}`);
  workerBuild ??= buildWorker();
  await workerBuild;
  return { env, args };
}

let workerBuild: Promise<string> | undefined;

/** Runs the worker as its own process, as production does, and waits until it polls. */
export async function spawnWorkerProcess(env: Record<string, string>): Promise<ChildWorker> {
  const command = await workerCommand();
  const child = spawn(process.execPath, command.args, {
    cwd: projectRoot,
    env: { ...process.env, ...command.env, WORKFLOW_BUNDLE_PATH: await workflowBundle(), ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"msg":"worker started"')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => reject(new Error(`worker exited with ${code} before starting:\n${output}`)));
  });
  const stopWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    process: child,
    output: () => output,
    kill: () => stopWith('SIGKILL'),
    stop: () => stopWith('SIGTERM'),
  };
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 60_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface FileHarness {
  readonly h: Harness;
  /** The seeded users, in id order. */
  readonly profiles: SeedProfile[];
}

/**
 * One harness for a whole test file: registers node:test hooks that start the
 * stack, seed `users` users and (unless `worker: false`) an in-process worker
 * before the first test, and after the last replay every workflow history the
 * file's tests produced (failing the file on any nondeterminism) and stop everything.
 */
export function harnessForFile(
  options: LocalStackOptions & { settings?: Record<string, string>; users?: number; seed?: SeedOptions; worker?: boolean } = {},
): FileHarness {
  const { users = 0, seed, worker = true, ...harnessOptions } = options;
  let harness: Harness | undefined;
  let profiles: SeedProfile[] = [];
  before(async () => {
    harness = await startHarness(harnessOptions);
    profiles = await seedUsers(harness.pool, users, seed);
    if (worker) await harness.startWorker();
  });
  after(async () => {
    try {
      // Every history replays, and none holds a seeded person's address.
      await harness?.replayAll(profiles.map((p) => p.email));
    } finally {
      await harness?.stop();
    }
  });
  return {
    get h() {
      if (!harness) throw new Error('the harness starts in the before hook');
      return harness;
    },
    get profiles() {
      return profiles;
    },
  };
}
