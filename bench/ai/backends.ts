// The outside services the scale-out scenarios need: Redis (a key prefix of the run's own,
// its keys deleted afterwards) and PostgreSQL (a schema of the run's own, migrated here once
// and dropped afterwards). Unreachable, a scenario is skipped with the reason, not failed.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb } from '../../src/db/index.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { closeRedis, connectRedis, createRedisClient } from '../../src/plugins/redis.js';

const run = randomBytes(4).toString('hex');

/** Under this, every key the run's Inkstones write: `inkstone-bench:<run>:<scenario>:`. */
export const redisPrefix = (scenario: string) => `inkstone-bench:${run}:${scenario}:`;

/** null when Redis answers, else why the scenario is skipped. */
export async function redisProblem(url: string): Promise<string | null> {
  const client = createRedisClient(url);
  try {
    await connectRedis(client, url, 3000);
    return null;
  } catch (error) {
    // Its advice ("unset REDIS_URL") is for a server; here unset means the default address.
    return `${(error as Error).message.split('. Start it')[0]}; set REDIS_URL to reach another`;
  } finally {
    client.disconnect();
  }
}

/** Deletes every key the run wrote under `inkstone-bench:<run>:` (BullMQ's, streams, limits, cache). */
export async function deleteRunKeys(url: string): Promise<number> {
  const client = createRedisClient(url);
  let deleted = 0;
  try {
    await connectRedis(client, url, 3000);
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `inkstone-bench:${run}:*`, 'COUNT', 1000);
      if (keys.length > 0) deleted += await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await closeRedis(client);
  }
  return deleted;
}

export interface BenchSchema {
  /** DATABASE_URL for Inkstone: the server's URL with `?schema=`. */
  databaseUrl: string;
  drop(): Promise<void>;
}

/** The URL without its password, for the report. */
const safe = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');

/**
 * A new schema, migrated: both instances then start on a database that is ready, instead of
 * racing each other through the first migration. Unreachable: a sentence saying why.
 */
export async function createSchema(url: string): Promise<BenchSchema | string> {
  const schema = `inkstone_bench_${run}`;
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`create schema ${schema}`);
  } catch (error) {
    await admin.end().catch(() => {});
    return `PostgreSQL at ${safe(url)} is unreachable: ${(error as Error).message}; set DATABASE_URL=postgres://… to reach another`;
  }
  const databaseUrl = new URL(url);
  databaseUrl.searchParams.set('schema', schema);
  const drop = async () => {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  };
  try {
    const handle = createDb({ kind: 'postgres', url, schema });
    try {
      await migrateToLatest(handle.db, schema);
    } finally {
      await handle.close();
    }
  } catch (error) {
    await drop().catch(() => {});
    throw error;
  }
  return { databaseUrl: databaseUrl.toString(), drop };
}
