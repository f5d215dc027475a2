import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createDb, type DbHandle, type Dialect } from '../src/db/index.js';
import { availableDialects, POSTGRES_URL } from './helpers/db.js';

// The slow-query log (DATABASE_SLOW_QUERY_MS) on both dialects, and the pool gauges.

let handle: DbHandle | undefined;
afterEach(async () => {
  await handle?.close();
  handle = undefined;
});

const SECRET = 'hunter2@example.com';

function open(
  dialect: Dialect,
  limits: { slowQueryMs?: number; poolMax?: number; statementTimeoutMs?: number },
) {
  const lines: { object: Record<string, unknown>; message: string }[] = [];
  const log = { warn: (object: object, message: string) => lines.push({ object: { ...object }, message }) };
  const config =
    dialect === 'sqlite'
      ? ({ kind: 'sqlite', file: ':memory:', limits } as const)
      : ({ kind: 'postgres', url: POSTGRES_URL, limits } as const);
  handle = createDb(config, { log });
  return { db: handle.db, lines };
}

/** A query of a few hundred ms with a bound parameter that must not reach the log. */
function slowQuery(dialect: Dialect, db: DbHandle['db']) {
  return dialect === 'postgres'
    ? sql`select pg_sleep(0.3), ${SECRET}::text as who`.execute(db)
    : sql`with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000000)
          select count(*) as n from c where ${SECRET} <> ''`.execute(db);
}

const dialects = await availableDialects();

describe.each(dialects)('the slow-query log on %s', (dialect) => {
  it('logs a query over the threshold with its SQL text and time, never its parameters', async () => {
    const { db, lines } = open(dialect, { slowQueryMs: 50 });
    await sql`select 1`.execute(db);
    expect(lines).toEqual([]);
    await slowQuery(dialect, db);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line!.message).toBe('slow query');
    expect(line!.object.dialect).toBe(dialect);
    expect(line!.object.ms).toBeGreaterThanOrEqual(50);
    expect(line!.object.sql).toMatch(
      dialect === 'postgres' ? /^select pg_sleep\(0\.3\), \$1::text/ : /^with recursive c\(x\)/,
    );
    expect(JSON.stringify(line)).not.toContain(SECRET);
  });

  it('logs nothing with the threshold at 0', async () => {
    const { db, lines } = open(dialect, { slowQueryMs: 0 });
    await slowQuery(dialect, db);
    expect(lines).toEqual([]);
  });

  it('logs nothing under the 200 ms default for quick queries', async () => {
    const { db, lines } = open(dialect, {});
    for (let i = 0; i < 20; i++) await sql`select ${i} as i`.execute(db);
    expect(lines).toEqual([]);
  });
});

describe.skipIf(!dialects.includes('postgres'))('PostgreSQL', () => {
  it('logs a query the statement timeout cancelled, marked as failed', async () => {
    const { db, lines } = open('postgres', { slowQueryMs: 50, statementTimeoutMs: 150 });
    await expect(sql`select pg_sleep(1)`.execute(db)).rejects.toThrow(/statement timeout/);
    expect(lines).toEqual([
      {
        message: 'slow query',
        object: {
          sql: 'select pg_sleep(1)',
          ms: expect.any(Number),
          dialect: 'postgres',
          failed: true,
          pool: { total: 1, idle: 0, waiting: 0, max: 10 },
        },
      },
    ]);
    expect(lines[0]!.object.ms).toBeGreaterThanOrEqual(140);
  });

  it("gives the pool's gauges: connections open, idle, queries waiting, and the bound", async () => {
    open('postgres', { poolMax: 3, slowQueryMs: 0 });
    const db = handle!;
    expect(db.poolStats()).toEqual({ total: 0, idle: 0, waiting: 0, max: 3 });
    const running = Array.from({ length: 5 }, () => sql`select pg_sleep(0.3)`.execute(db.db));
    await expect
      .poll(() => db.poolStats(), { interval: 10 })
      .toEqual({ total: 3, idle: 0, waiting: 2, max: 3 });
    await Promise.all(running);
    expect(db.poolStats()).toEqual({ total: 3, idle: 3, waiting: 0, max: 3 });
  });
});

describe('SQLite', () => {
  it('reports its one connection as a pool of one: busy or idle, and the queries waiting for it', async () => {
    const { db } = open('sqlite', {});
    const stats = () => handle!.poolStats();
    expect(stats()).toEqual({ total: 1, idle: 1, waiting: 0, max: 1 });
    let queued: Promise<unknown>[] = [];
    await db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      // The transaction holds the connection; these two queue behind it.
      queued = [sql`select 2`.execute(db), sql`select 3`.execute(db)];
      await expect.poll(stats, { interval: 5 }).toEqual({ total: 1, idle: 0, waiting: 2, max: 1 });
    });
    await Promise.all(queued);
    expect(stats()).toEqual({ total: 1, idle: 1, waiting: 0, max: 1 });
  });
});

describe('DATABASE_SLOW_QUERY_MS', () => {
  it('reaches the database limits when set, and is left to the 200 ms default otherwise', () => {
    expect(loadConfig({ DATABASE_SLOW_QUERY_MS: '0' }).database.limits).toEqual({ slowQueryMs: 0 });
    expect(loadConfig({ DATABASE_SLOW_QUERY_MS: '750' }).database.limits).toEqual({ slowQueryMs: 750 });
    expect(loadConfig({}).database.limits).toBeUndefined();
    expect(() => loadConfig({ DATABASE_SLOW_QUERY_MS: '-1' })).toThrow(
      /DATABASE_SLOW_QUERY_MS must be a whole number/,
    );
  });
});
