import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/db/index.js';

// SQLite's WAL checkpoints run in a worker thread with its own connection, not inside the
// commit of whichever request takes the WAL past its limit.
const dir = mkdtempSync(join(tmpdir(), 'inkstone-checkpoints-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROW = 'x'.repeat(2000);

async function fill(db: ReturnType<typeof createDb>['db'], rows: number) {
  await sql`create table if not exists t (id integer primary key, body text not null)`.execute(db);
  for (let i = 0; i < rows; i++) await sql`insert into t (body) values (${ROW})`.execute(db);
}

async function until(check: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
  return check();
}

describe('background WAL checkpoints (SQLite)', () => {
  it('copy a grown WAL into the database from a worker thread; the main connection keeps only a backstop', async () => {
    const file = join(dir, 'grown.db');
    const handle = createDb({ kind: 'sqlite', file }, { checkpoints: { everyMs: 20, walBytes: 64 * 1024 } });
    // The main connection checkpoints by itself only at 10,000 pages, far above what is written here.
    const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(handle.db);
    expect(rows[0]?.wal_autocheckpoint).toBe(10_000);

    await fill(handle.db, 200);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(64 * 1024);
    expect(await until(() => (handle.checkpoints?.().runs ?? 0) > 0)).toBe(true);
    const stats = handle.checkpoints!();
    expect(stats).toMatchObject({ started: true, failures: 0 });
    // Each row is a page or more: the worker copied at least one frame per row.
    expect(stats.framesCopied).toBeGreaterThanOrEqual(200);

    await handle.close();
    // The worker's connection closed first, the main one last: the WAL is folded in and gone.
    expect(() => statSync(`${file}-wal`)).toThrow();
    const reopened = new SQLite(file, { readonly: true });
    expect(reopened.prepare('select count(*) as n from t').get()).toEqual({ n: 200 });
    reopened.close();
  });

  it('are not asked for again once the WAL has been folded in and restarted', async () => {
    const file = join(dir, 'restarted.db');
    const walBytes = 64 * 1024;
    const handle = createDb({ kind: 'sqlite', file }, { checkpoints: { everyMs: 10, walBytes } });
    await fill(handle.db, 200);
    expect(await until(() => (handle.checkpoints?.().runs ?? 0) > 0)).toBe(true);
    // The next commit after a complete checkpoint starts the WAL over and cuts the file back.
    await fill(handle.db, 1);
    expect(statSync(`${file}-wal`).size).toBeLessThanOrEqual(walBytes);
    const runs = handle.checkpoints!().runs;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(handle.checkpoints!().runs).toBe(runs);
    await handle.close();
  });

  it('start no worker while the WAL stays small', async () => {
    const file = join(dir, 'small.db');
    const handle = createDb({ kind: 'sqlite', file }, { checkpoints: { everyMs: 10 } });
    await fill(handle.db, 20);
    // Several looks at the WAL's size, each finding it under SQLite's usual 1,000 pages.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(handle.checkpoints?.()).toEqual({ started: false, runs: 0, framesCopied: 0, failures: 0 });
    await handle.close();
  });

  it('are not set up for an in-memory database', async () => {
    const handle = createDb({ kind: 'sqlite', file: ':memory:' });
    expect(handle.checkpoints).toBeUndefined();
    await handle.close();
  });
});
