import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, type LogEvent, PostgresAdapter, PostgresDialect } from 'kysely';
import type * as Pg from 'pg';
import { DATABASE_DEFAULTS } from '../config-schema.js';
import type { DatabaseConfig } from '../config.js';
import { backgroundCheckpoints, type CheckpointOptions, type CheckpointStats } from './checkpoints.js';
import { FifoSqliteDialect } from './sqlite-driver.js';
import { lazyRequire } from '../lazy-require.js';
import type { Database } from './types.js';

const pg = lazyRequire<typeof Pg>('pg');

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;

export interface DbHandle {
  db: Db;
  dialect: Dialect;
  /** Checks the database answers; throws with a readable message when it does not. */
  ping(): Promise<void>;
  /** The pool, for gauges; SQLite's one connection counts as a pool of one. */
  poolStats(): PoolStats;
  /** Calls `listener` after every query (the metrics' histogram); returns the unsubscribe. */
  onQuery(listener: (event: QueryEvent) => void): () => void;
  /** SQLite on a file: what the background checkpoints have done. */
  checkpoints?: () => CheckpointStats;
  close(): Promise<void>;
}

/** One query as Kysely timed it: on its connection, not counting the wait for one. */
export interface QueryEvent {
  ms: number;
  dialect: Dialect;
  failed: boolean;
  /** The SQL text, with placeholders for the values (Kysely binds every value): for traces. */
  sql: string;
}

export interface PoolStats {
  /** Connections open, busy or idle. */
  total: number;
  idle: number;
  /** Queries waiting for a connection: above 0 for long, the pool is too small or queries too slow. */
  waiting: number;
  max: number;
}

export interface DbOptions {
  /** Where slow queries are reported (the app's logger); without it they are not. */
  log?: { warn(object: object, message: string): void };
  /** SQLite's background checkpoints: when to look and at what WAL size (tests make them small). */
  checkpoints?: Pick<CheckpointOptions, 'everyMs' | 'walBytes'>;
}

// Enough of a statement to recognise it; a generated IN (...) list can run to pages.
const SLOW_SQL_MAX_CHARS = 1000;

/**
 * Kysely's query log, keeping only queries slower than `thresholdMs`. Only the SQL text goes
 * to the log, never the parameters: they hold password hashes, emails and session ids.
 * Kysely times the query on its connection, not the wait for one; the pool's state at that
 * moment tells whether requests were also queueing for connections.
 */
function slowQueryLog(
  thresholdMs: number,
  dialect: Dialect,
  log: NonNullable<DbOptions['log']>,
  poolStats: () => PoolStats,
) {
  return (event: LogEvent) => {
    if (event.queryDurationMillis < thresholdMs) return;
    const sql = event.query.sql.replace(/\s+/g, ' ').slice(0, SLOW_SQL_MAX_CHARS);
    log.warn(
      {
        sql,
        ms: Math.round(event.queryDurationMillis),
        dialect,
        ...(event.level === 'error' ? { failed: true } : {}),
        pool: poolStats(),
      },
      'slow query',
    );
  };
}

// Kysely's SQLite driver prepares every query afresh; a CPU profile of the AI pipeline showed
// better-sqlite3's prepare() among its top costs. The app issues a few hundred distinct SQL
// texts at most (parameters are bound, not inlined), so statements are kept by text.
const STATEMENT_CACHE_SIZE = 500;

function cachePreparedStatements(sqlite: SQLite.Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, SQLite.Statement>();
  sqlite.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (!statement) {
      statement = prepare(source);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(source, statement);
    }
    return statement;
  }) as SQLite.Database['prepare'];
}

export function createDb(config: DatabaseConfig, options: DbOptions = {}): DbHandle {
  const limits = { ...DATABASE_DEFAULTS, ...config.limits };
  const listeners = new Set<(event: QueryEvent) => void>();
  const onQuery = (listener: (event: QueryEvent) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  // Always installed: listeners come later (the metrics plugin), after Kysely is built.
  const log = (dialect: Dialect, poolStats: () => PoolStats) => {
    const slow =
      options.log && limits.slowQueryMs > 0
        ? slowQueryLog(limits.slowQueryMs, dialect, options.log, poolStats)
        : undefined;
    return {
      log: (event: LogEvent) => {
        slow?.(event);
        if (listeners.size === 0) return;
        const query = {
          ms: event.queryDurationMillis,
          dialect,
          failed: event.level === 'error',
          sql: event.query.sql,
        };
        for (const listener of listeners) listener(query);
      },
    };
  };
  if (config.kind === 'sqlite') {
    if (config.file !== ':memory:') mkdirSync(dirname(config.file), { recursive: true });
    const sqlite = new SQLite(config.file);
    // WAL lets readers proceed while one writer commits; busy_timeout makes a second
    // writer wait for the lock instead of failing at once with SQLITE_BUSY.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`busy_timeout = ${limits.busyTimeoutMs}`);
    // A file's WAL is checkpointed by a worker thread, not inside a request's commit.
    const checkpoints =
      config.file === ':memory:'
        ? undefined
        : backgroundCheckpoints(sqlite, config.file, { ...options.checkpoints, log: options.log });
    cachePreparedStatements(sqlite);
    const dialect = new FifoSqliteDialect({ database: sqlite });
    const poolStats = (): PoolStats => {
      const { held, waiting } = dialect.stats();
      return { total: 1, idle: held ? 0 : 1, waiting, max: 1 };
    };
    const db = new Kysely<Database>({ dialect, ...log('sqlite', poolStats) });
    return {
      db,
      dialect: 'sqlite',
      ping: async () => {
        sqlite.prepare('select 1').get();
      },
      poolStats,
      onQuery,
      checkpoints: checkpoints?.stats,
      close: async () => {
        // The worker's connection goes first: the last one to close folds the WAL in.
        await checkpoints?.close();
        await db.destroy();
      },
    };
  }

  const pool = new (pg().Pool)({
    connectionString: config.url,
    max: limits.poolMax,
    connectionTimeoutMillis: limits.connectTimeoutMs,
    // A query stuck behind a lock must fail (503 with Retry-After) rather than hold the
    // request until the HTTP timeout.
    options: [
      `-c statement_timeout=${limits.statementTimeoutMs}`,
      `-c lock_timeout=${limits.lockTimeoutMs}`,
      ...(config.schema ? [`-c search_path=${config.schema}`] : []),
    ].join(' '),
  });
  // An idle client that loses its connection emits 'error' on the pool; without a
  // listener Node would crash the process. The next query reconnects.
  pool.on('error', () => {});
  const poolStats = (): PoolStats => ({
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
    max: limits.poolMax,
  });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    ...log('postgres', poolStats),
  });
  return {
    db,
    dialect: 'postgres',
    ping: async () => {
      try {
        await pool.query('select 1');
      } catch (error) {
        const safeUrl = config.url.replace(/\/\/[^@/]*@/, '//***@');
        throw new Error(`PostgreSQL at ${safeUrl} is unreachable: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
    poolStats,
    onQuery,
    close: () => db.destroy(),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any database shape
export function dialectOf(db: Kysely<any>): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}
