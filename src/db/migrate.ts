import { type Migration, type MigrationProvider, Migrator } from 'kysely';
import type { DatabaseConfig } from '../config.js';
import { createDb, type Db, type DbHandle, type DbOptions } from './index.js';
import * as init from './migrations/0001-init.js';
import * as generations from './migrations/0002-generations.js';
import * as aiJobs from './migrations/0003-ai-jobs.js';

// Listed here rather than read from the folder: the compiled build and tsx see the same set.
const migrations: Record<string, Migration> = {
  '0001-init': init,
  '0002-generations': generations,
  '0003-ai-jobs': aiJobs,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Db, schema?: string): Promise<string[]> {
  const migrator = new Migrator({ db, provider, ...(schema ? { migrationTableSchema: schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`Database migration ${failed} failed: ${(error as Error).message ?? error}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Opens the configured database, checks it answers and brings it to the latest migration:
 * what the server and the CLI both do before anything else. A failure closes the pool, so
 * a failed start does not leave the process hanging on open connections.
 */
export async function openDatabase(
  config: DatabaseConfig,
  options: DbOptions = {},
): Promise<{ handle: DbHandle; applied: string[] }> {
  const handle = createDb(config, options);
  try {
    await handle.ping();
    const applied = await migrateToLatest(handle.db, config.kind === 'postgres' ? config.schema : undefined);
    return { handle, applied };
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}
