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

export type { Pool, PoolClient } from 'pg';
