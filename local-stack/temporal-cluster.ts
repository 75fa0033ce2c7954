/**
 * A self-hosted Temporal cluster on this machine, shaped as production runs it: the server's four
 * services — frontend, history, matching, worker — as separate processes of the release
 * docker-compose.yml runs (`npm run setup:temporal-server` builds it), finding each other through
 * ringpop membership on loopback, on a PostgreSQL of their own with Temporal's schema set up by its
 * own tool. Each service can be killed and started again on the same ports; `stop()` ends all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time.js';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { execFileAsync } from './install-pip-tool.js';
import { freePort, isPortFree } from './ports.js';
import { startPostgres, type PostgresStandin } from './postgres.js';
import { installTemporalServer, type TemporalServerBinaries } from './temporal-server.js';

export const CLUSTER_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type ClusterService = (typeof CLUSTER_SERVICES)[number];

/** The compose stack's dynamic config (Update on, SQL visibility's id length). */
const DYNAMIC_CONFIG = fileURLToPath(new URL('../docker/temporal/dynamicconfig/development-sql.yaml', import.meta.url));

export interface TemporalClusterOptions {
  /** History shards (default 4): fixed for the cluster's life, as in production. */
  historyShards?: number;
  namespace?: string;
  /** Where config and each service's log go (default: a new temporary directory). */
  dir?: string;
  binaries?: TemporalServerBinaries;
  /** Called once the namespace is registered, before anyone uses the cluster (search attributes, say). */
  prepare?: (client: Client) => Promise<void>;
}

export interface TemporalCluster {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  dir: string;
  postgres: PostgresStandin;
  /** SIGKILL: the service dies as a machine would. */
  kill(service: ClusterService): Promise<void>;
  /** Starts a killed (or stopped) service again, on its ports. */
  start(service: ClusterService): Promise<void>;
  stop(): Promise<void>;
}

interface Ports {
  grpcPort: number;
  membershipPort: number;
  httpPort?: number;
}

/** The server's config (JSON is YAML): PostgreSQL for both stores, each service on ports of its own, on loopback. */
function serverConfig(postgres: PostgresStandin, ports: Record<ClusterService, Ports>, shards: number, frontend: string): unknown {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${postgres.port}`,
      connectProtocol: 'tcp',
      user: 'postgres',
      password: 'postgres',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: shards,
      datastores: { default: store('temporal', 20), visibility: store('temporal_visibility', 4) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: Object.fromEntries(CLUSTER_SERVICES.map((service) => [service, { rpc: { ...ports[service], bindOnLocalHost: true } }])),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: frontend } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    dynamicConfigClient: { filepath: DYNAMIC_CONFIG, pollInterval: '10s' },
  };
}

/**
 * A free port Temporal can record as a member's: it keeps membership ports in a smallint, so not
 * one of the OS's ephemeral ports (32768 and up).
 */
async function freeMembershipPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!taken.has(port) && (await isPortFree(port))) return taken.add(port), port;
  }
  throw new Error('Temporal cluster: no free port between 20000 and 32000 for membership');
}

/** Creates Temporal's two databases and brings their schemas to this release, as compose's setup does. */
async function setUpSchema(binaries: TemporalServerBinaries, postgres: PostgresStandin): Promise<void> {
  const sql = (db: string, ...args: string[]) =>
    execFileAsync(binaries.sqlTool, ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(postgres.port), '-u', 'postgres', '--pw', 'postgres', '--db', db, ...args]);
  for (const [db, dir] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    await sql(db, 'create');
    await sql(db, 'setup-schema', '-v', '0.0');
    await sql(db, 'update-schema', '-d', join(binaries.schemaDir, 'postgresql', 'v12', dir, 'versioned'));
  }
}

/** Resolves once a service has recorded the cluster's metadata in Temporal's database; throws until then. */
async function clusterMetadataWritten(postgres: PostgresStandin): Promise<void> {
  // The server's own database on the same PostgreSQL: its URL with the database swapped.
  const client = new pg.Client({ connectionString: postgres.url.replace(/\/[^/]*$/, '/temporal') });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM cluster_metadata_info LIMIT 1');
    if (!rowCount) throw new Error('no cluster metadata yet');
  } finally {
    await client.end();
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T>, dead: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      const exited = dead();
      if (exited) throw new Error(`Temporal cluster: the ${exited} service exited while ${what} was awaited`);
      if (Date.now() > deadline) throw new Error(`Temporal cluster: ${what} not ready after ${timeoutMs / 1000} s: ${err instanceof Error ? err.message : String(err)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

export async function startTemporalCluster(options: TemporalClusterOptions = {}): Promise<TemporalCluster> {
  const binaries = options.binaries ?? (await installTemporalServer({ ifMissing: true }));
  const namespace = options.namespace ?? 'default';
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'temporal-cluster-')));
  const postgres = await startPostgres({ database: 'postgres' });
  const processes = new Map<ClusterService, { child: ChildProcess; exited: Promise<void> }>();
  /** The end of each service's output, for the error when the cluster does not come up (all of it is in `dir`). */
  const logs = new Map<ClusterService, string>();
  let connection: Connection | undefined;
  const stopAll = async () => {
    await connection?.close().catch(() => undefined);
    await Promise.all([...processes.keys()].map((service) => stopService(service, 'SIGTERM')));
    await postgres.stop();
  };
  async function stopService(service: ClusterService, signal: NodeJS.Signals): Promise<void> {
    const running = processes.get(service);
    if (!running) return;
    processes.delete(service);
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill(signal);
    await running.exited;
  }

  try {
    await setUpSchema(binaries, postgres);
    const ports = {} as Record<ClusterService, Ports>;
    const membershipPorts = new Set<number>();
    for (const service of CLUSTER_SERVICES) {
      ports[service] = {
        grpcPort: await freePort(),
        membershipPort: await freeMembershipPort(membershipPorts),
        ...(service === 'frontend' ? { httpPort: await freePort() } : {}),
      };
    }
    const address = `127.0.0.1:${ports.frontend.grpcPort}`;
    const configFile = join(dir, 'config.yaml');
    await writeFile(configFile, JSON.stringify(serverConfig(postgres, ports, options.historyShards ?? 4, address), null, 2));

    const start = (service: ClusterService): Promise<void> => {
      if (processes.has(service)) return Promise.resolve();
      const log = createWriteStream(join(dir, `${service}.log`), { flags: 'a' });
      const child = spawn(binaries.server, ['--config-file', configFile, '--allow-no-auth', 'start', '--service', service], { stdio: ['ignore', 'pipe', 'pipe'] });
      const record = (chunk: Buffer) => {
        log.write(chunk);
        logs.set(service, ((logs.get(service) ?? '') + chunk.toString()).slice(-64_000));
      };
      child.stdout?.on('data', record);
      child.stderr?.on('data', record);
      const exited = new Promise<void>((resolve) => child.once('exit', () => (log.end(), resolve())));
      processes.set(service, { child, exited });
      return Promise.resolve();
    };
    const dead = () =>
      CLUSTER_SERVICES.find((service) => {
        const child = processes.get(service)?.child;
        return child !== undefined && (child.exitCode !== null || child.signalCode !== null);
      });
    // Each service writes the cluster's metadata record when it finds none, and one that loses the
    // race to write it exits on the duplicate key: the first service starts alone until it is there.
    const [first, ...others] = CLUSTER_SERVICES;
    await start(first);
    await until('the cluster metadata', 60_000, () => clusterMetadataWritten(postgres), dead);
    for (const service of others) await start(service);
    connection = await until('the frontend', 90_000, () => Connection.connect({ address, connectTimeout: 2_000 }), dead);
    const client = new Client({ connection, namespace });
    await until('namespace registration', 60_000, async () => {
      try {
        await connection?.workflowService.describeNamespace({ namespace });
      } catch {
        await connection?.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('7 days') });
      }
    }, dead);
    // Every service learns of a new namespace within its cache refresh (10 s): until then it is not found.
    const prepare = options.prepare;
    if (prepare) await until('the namespace', 60_000, () => prepare(client), dead);
    // History answers for a workflow that does not exist only once it owns its shard and knows the namespace.
    await until('the history service', 60_000, async () => {
      try {
        await client.workflow.getHandle('cluster-ready-probe').describe();
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }, dead);

    return {
      address,
      namespace,
      dir,
      postgres,
      kill: (service) => stopService(service, 'SIGKILL'),
      start,
      stop: stopAll,
    };
  } catch (error) {
    const tails = CLUSTER_SERVICES.map((service) => `--- ${service}\n${(logs.get(service) ?? '').slice(-2_000)}`).join('\n');
    await stopAll();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${tails}`);
  }
}
