import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createDb, type DbHandle } from '../src/db/index.js';
import { startServer } from '../src/server.js';
import { availableDialects, POSTGRES_URL } from './helpers/db.js';

// The settings that used to be constants in db/index.ts and server.ts reach the driver and
// the HTTP server.

let handle: DbHandle | undefined;
afterEach(async () => {
  await handle?.close();
  handle = undefined;
});

describe('database limits', () => {
  it('SQLite waits for a lock as long as configured, 5 s when not', async () => {
    handle = createDb({ kind: 'sqlite', file: ':memory:' });
    const defaults = await sql<{ timeout: number }>`pragma busy_timeout`.execute(handle.db);
    expect(defaults.rows[0]?.timeout).toBe(5000);
    await handle.close();

    handle = createDb({ kind: 'sqlite', file: ':memory:', limits: { busyTimeoutMs: 250 } });
    const set = await sql<{ timeout: number }>`pragma busy_timeout`.execute(handle.db);
    expect(set.rows[0]?.timeout).toBe(250);
  });

  it('PostgreSQL sessions get the configured statement and lock timeouts', async (context) => {
    if (!(await availableDialects()).includes('postgres')) return context.skip();
    handle = createDb({ kind: 'postgres', url: POSTGRES_URL, limits: { statementTimeoutMs: 1234 } });
    const statement = await sql<{ statement_timeout: string }>`show statement_timeout`.execute(handle.db);
    const lock = await sql<{ lock_timeout: string }>`show lock_timeout`.execute(handle.db);
    expect(statement.rows[0]?.statement_timeout).toBe('1234ms');
    expect(lock.rows[0]?.lock_timeout).toBe('5s');
  });
});

describe('server timeouts', () => {
  it('the HTTP server takes its timeouts from the config and forgets its signal handlers on close', async () => {
    const listeners = process.listenerCount('SIGTERM');
    const app = await startServer(
      loadConfig({
        NODE_ENV: 'test',
        PORT: '0',
        DATABASE_URL: 'sqlite::memory:',
        HTTP_REQUEST_TIMEOUT_MS: '30000',
        HTTP_HEADERS_TIMEOUT_MS: '15000',
        HTTP_KEEP_ALIVE_TIMEOUT_MS: '7000',
      }),
    );
    try {
      expect(app.server.requestTimeout).toBe(30_000);
      expect(app.server.headersTimeout).toBe(15_000);
      expect(app.server.keepAliveTimeout).toBe(7000);
      expect(process.listenerCount('SIGTERM')).toBe(listeners + 1);
    } finally {
      await app.close();
    }
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });
});
