import pg from 'pg';

/**
 * A connection pool. An idle connection that dies (database restart, Aurora
 * failover, idle timeout) is reported on the pool; without a listener Node would
 * treat it as an uncaught error and kill the process. The pool replaces such
 * connections by itself, so a warning is all it needs.
 */
export function createPool(
  databaseUrl: string,
  max = 10,
  onIdleError: (error: Error) => void = (error) => console.warn(`database: idle connection lost: ${error.message}`),
): pg.Pool {
  // A bounded connect time makes an unreachable database fail the activity (and Temporal retry it)
  // instead of hanging it past its heartbeat.
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 10_000 });
  pool.on('error', onIdleError);
  return pool;
}

/**
 * Runs `work` in a transaction on a client of its own: committed when `work` returns, rolled back
 * when it throws. While a client is checked out the pool no longer listens for its errors, so a
 * connection the server ends between two statements (a restart, an Aurora failover; the Firestore
 * projection holds its client across Firestore writes) would emit an 'error' nobody handles and
 * end the process. It is kept here instead: the next statement fails, and the connection is
 * destroyed rather than returned to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', onError);
    client.release(lost);
  }
}

export type { Pool, PoolClient } from 'pg';
