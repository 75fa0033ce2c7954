import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies every pending migration in db/migrations; safe to run on every start. With `upTo` (a
 * migration's timestamp prefix), only those up to and including it: the schema as a release had it.
 */
export async function migrate(databaseUrl: string, log: (message: string) => void = () => {}, { upTo }: { upTo?: number } = {}): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir,
    direction: 'up',
    ...(upTo === undefined ? {} : { count: upTo, timestamp: true }),
    migrationsTable: 'pgmigrations',
    singleTransaction: true,
    log,
  });
  return applied.map((migration) => migration.name);
}
