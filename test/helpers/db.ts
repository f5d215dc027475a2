import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/config.js';
import { createDb, type DbHandle, type Dialect } from '../../src/db/index.js';
import { migrateToLatest } from '../../src/db/migrate.js';

export const POSTGRES_URL = process.env.DATABASE_URL?.startsWith('postgres')
  ? process.env.DATABASE_URL
  : 'postgres://postgres@127.0.0.1:5432/test';

let postgresReachable: boolean | undefined;

async function canReachPostgres(): Promise<boolean> {
  if (postgresReachable !== undefined) return postgresReachable;
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    postgresReachable = true;
  } catch (error) {
    if (process.env.CI === 'true') {
      throw new Error(`PostgreSQL is required under CI but ${POSTGRES_URL} is unreachable: ${error}`, {
        cause: error,
      });
    }
    console.warn(
      `\n!!! SKIPPING PostgreSQL tests: ${POSTGRES_URL} is unreachable (${(error as Error).message}).\n` +
        '!!! Start it or set DATABASE_URL; under CI=true this is a failure.\n',
    );
    postgresReachable = false;
  } finally {
    await client.end().catch(() => {});
  }
  return postgresReachable;
}

/** The dialects this run can test: SQLite always, PostgreSQL when reachable (required under CI). */
export async function availableDialects(): Promise<Dialect[]> {
  return (await canReachPostgres()) ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestDatabase {
  config: DatabaseConfig;
  handle: DbHandle;
  /** Closes the connection and removes the file or schema. */
  destroy(): Promise<void>;
}

/**
 * A fresh, migrated database of its own for one test file or test: a new SQLite file in
 * a temp folder, or a new PostgreSQL schema, so runs and parallel files never collide.
 */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'inkstone-test-'));
    const config: DatabaseConfig = { kind: 'sqlite', file: join(dir, 'test.db') };
    const handle = createDb(config);
    await migrateToLatest(handle.db);
    return {
      config,
      handle,
      destroy: async () => {
        await handle.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `inkstone_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const config: DatabaseConfig = { kind: 'postgres', url: POSTGRES_URL, schema };
  const handle = createDb(config);
  await migrateToLatest(handle.db, schema);
  return {
    config,
    handle,
    destroy: async () => {
      await handle.close();
      const cleanup = new pg.Client({ connectionString: POSTGRES_URL });
      await cleanup.connect();
      await cleanup.query(`drop schema ${schema} cascade`);
      await cleanup.end();
    },
  };
}
