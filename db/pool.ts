import pg from 'pg';

// Return bigint columns (ids, counters) as strings is pg's default; counts we
// sum in SQL are cast to int there, so no global type parser is needed.
export function createPool(databaseUrl: string, max = 10): pg.Pool {
  return new pg.Pool({ connectionString: databaseUrl, max });
}

export type { Pool, PoolClient } from 'pg';
