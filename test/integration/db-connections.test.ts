import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createPool, inTransaction } from '../../db/pool.js';
import { startPostgres, type PostgresStandin } from '../../local-stack/postgres.js';

/**
 * A database that goes away under a checked-out connection (a restart, an Aurora failover) fails
 * that transaction and nothing else: the process lives on and the pool serves again once the
 * database is back. The Firestore projection holds its connection across Firestore writes, so
 * this is no corner case: it ended the API process in the cluster soak before inTransaction.
 */

const dataDir = join(mkdtempSync(join(tmpdir(), 'db-connections-')), 'pg');
const running: PostgresStandin[] = [];
after(async () => {
  for (const postgres of running) await postgres.stop();
});

test('the database stopping between two statements of a transaction rejects it; the process lives and the pool recovers', async () => {
  const first = await startPostgres({ dataDir, persistent: true });
  running.push(first);
  const lost: string[] = [];
  const pool = createPool(first.url, 2, (error) => lost.push(error.message));
  try {
    const transaction = inTransaction(pool, async (client) => {
      await client.query('SELECT 1');
      // Another await in the middle of the transaction (a Firestore write, say) while the database goes away.
      await first.stop();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await client.query('SELECT 1');
    });
    await assert.rejects(transaction, /terminat|Connection|closed|ECONNREFUSED/i);
    running.push(await startPostgres({ port: first.port, dataDir, persistent: true }));
    const { rows } = await pool.query<{ ok: number }>('SELECT 1 AS ok');
    assert.deepEqual(rows, [{ ok: 1 }]);
    assert.equal(await inTransaction(pool, async (client) => (await client.query<{ n: number }>('SELECT 2 AS n')).rows[0]?.n), 2);
  } finally {
    await pool.end();
  }
});
