import { randomBytes } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
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

/** A test database as the DATABASE_URL a child process (`inkstone serve`, `worker`) reads. */
export function databaseUrl(config: DatabaseConfig): string {
  if (config.kind === 'sqlite') return `sqlite:${config.file}`;
  const url = new URL(config.url);
  if (config.schema) url.searchParams.set('schema', config.schema);
  return url.toString();
}

export interface TestDatabase {
  config: DatabaseConfig;
  handle: DbHandle;
  /** Closes the connection and removes the file or schema. */
  destroy(): Promise<void>;
}

/**
 * A fresh, migrated database of its own for one test or `describe`: a new SQLite file or
 * a new PostgreSQL schema, so tests never see each other's rows and parallel files never
 * collide. Nothing is shared or cleaned between tests; each starts from an empty schema.
 */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  return dialect === 'sqlite' ? createSqliteDatabase() : createPostgresDatabase();
}

// SQLite: migrate once per worker process into a template file, then copy it for each
// database (a copy takes ~1 ms, migrating ~15 ms). The files go in the run's folder,
// which the global setup removes at the end, so a crashed suite leaves nothing behind.
let sqliteFolder: string | undefined;
let sqliteTemplate: Promise<string> | undefined;
let sqliteCount = 0;

function folder(): string {
  // Typed as always provided, but only the integration and e2e projects run the global setup.
  sqliteFolder ??= inject('testDataFolder') as string | undefined;
  if (!sqliteFolder) {
    throw new Error(
      'A test database needs the integration or e2e project (see vitest.config.ts); ' +
        'a unit test uses fakes instead.',
    );
  }
  return sqliteFolder;
}

function templateFile(): Promise<string> {
  sqliteTemplate ??= (async () => {
    const file = join(folder(), `template-${process.pid}.db`);
    const handle = createDb({ kind: 'sqlite', file });
    await migrateToLatest(handle.db);
    // Closing checkpoints the WAL into the main file, so the file alone is the whole database.
    await handle.close();
    return file;
  })();
  return sqliteTemplate;
}

async function createSqliteDatabase(): Promise<TestDatabase> {
  const template = await templateFile();
  const file = join(folder(), `test-${process.pid}-${++sqliteCount}.db`);
  copyFileSync(template, file);
  const config: DatabaseConfig = { kind: 'sqlite', file };
  const handle = createDb(config);
  return {
    config,
    handle,
    destroy: async () => {
      await handle.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
    },
  };
}

// PostgreSQL has no cheap way to copy a schema (replaying the DDL costs as much as
// migrating), so each database is a new schema, migrated. Creating and dropping schemas
// goes through one small pool per process rather than a new connection each time.
let adminPool: pg.Pool | undefined;

function admin(): pg.Pool {
  // allowExitOnIdle: the idle connection must not keep a finished worker alive.
  adminPool ??= new pg.Pool({ connectionString: POSTGRES_URL, max: 2, allowExitOnIdle: true });
  return adminPool;
}

async function createPostgresDatabase(): Promise<TestDatabase> {
  const schema = `inkstone_test_${randomBytes(6).toString('hex')}`;
  await admin().query(`create schema ${schema}`);
  const config: DatabaseConfig = { kind: 'postgres', url: POSTGRES_URL, schema };
  const handle = createDb(config);
  await migrateToLatest(handle.db, schema);
  return {
    config,
    handle,
    destroy: async () => {
      await handle.close();
      await admin().query(`drop schema ${schema} cascade`);
    },
  };
}
