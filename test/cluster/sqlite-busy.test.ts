import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createDb, type DbHandle } from '../../src/db/index.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { retryWhileBusy } from '../../src/db/sqlite-driver.js';

// What another `serve --workers` process holding SQLite's write lock does to this one: a second
// connection to the same file (better-sqlite3 is synchronous, so it stands in for a process)
// takes the lock, and the app's database (busy_timeout 0 here, so the retry is what waits)
// must succeed once the lock is released rather than fail with SQLITE_BUSY.

describe('SQLite with another writer on the file', () => {
  let handle: DbHandle | undefined;
  let other: SQLite.Database | undefined;

  afterEach(async () => {
    other?.close();
    await handle?.close();
  });

  async function open(busyTimeoutMs: number) {
    const file = join(inject('testDataFolder'), `busy-${randomBytes(4).toString('hex')}.db`);
    handle = createDb({ kind: 'sqlite', file, limits: { busyTimeoutMs } });
    await migrateToLatest(handle.db);
    other = new SQLite(file);
    return handle.db;
  }

  /** The other connection holds the write lock for `ms`, then commits. */
  function holdWriteLock(ms: number): Promise<void> {
    other!.exec('begin immediate');
    other!.exec(`insert into settings (key, value) values ('held', '1')`);
    return new Promise((resolve) =>
      setTimeout(() => {
        other!.exec('commit');
        resolve();
      }, ms),
    );
  }

  it('retries a write outside a transaction until the lock is free', async () => {
    const db = await open(0);
    const released = holdWriteLock(120);
    await db.insertInto('settings').values({ key: 'mine', value: '"x"' }).execute();
    await released;
    const keys = (await db.selectFrom('settings').select('key').execute()).map((r) => r.key).sort();
    expect(keys).toEqual(['held', 'mine']);
  });

  it('begins a transaction IMMEDIATE, waiting for the lock there, so it never fails half-way', async () => {
    const db = await open(0);
    const released = holdWriteLock(120);
    // Read then write: a deferred transaction would get SQLITE_BUSY at the write, unretriable.
    await db.transaction().execute(async (trx) => {
      await trx.selectFrom('settings').selectAll().execute();
      await trx.insertInto('settings').values({ key: 'in-trx', value: '"y"' }).execute();
    });
    await released;
    const row = await db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', 'in-trx')
      .executeTakeFirst();
    expect(row?.value).toBe('"y"');
  });

  it('gives up after its bounded waits and lets SQLITE_BUSY through (a 503, not a hang)', async () => {
    const db = await open(0);
    other = other!;
    other.exec('begin immediate');
    const started = Date.now();
    await expect(
      sql`insert into settings (key, value) values ('late', '1')`.execute(db),
    ).rejects.toMatchObject({
      code: 'SQLITE_BUSY',
    });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThan(300);
    expect(waited).toBeLessThan(5000);
    other.exec('rollback');
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(
      retryWhileBusy(async () => {
        calls++;
        throw Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
      }),
    ).rejects.toThrow('constraint');
    expect(calls).toBe(1);
  });
});
