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
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  pool.on('error', onIdleError);
  return pool;
}

export type { Pool, PoolClient } from 'pg';
