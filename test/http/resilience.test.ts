import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/db/index.js';

describe('when the database goes away', () => {
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'postgres://postgres@127.0.0.1:9/gone' });
  const handle = createDb(config.database);
  let app: Awaited<ReturnType<typeof buildApp>>;
  beforeAll(async () => {
    // Handing in an open (here: unreachable) database skips the start-up ping, as if it died later.
    app = await buildApp({ config, database: handle, logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await handle.close();
  });

  it('answers 503 with Retry-After instead of hanging or crashing', async () => {
    // Alive (it asks nothing), not ready (src/http/health.ts).
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.db.ok).toBe(false);
    const api = await app.inject({ method: 'GET', url: '/api/v1/posts' });
    expect(api.statusCode).toBe(503);
    expect(api.json().error.code).toBe('database_unavailable');
    const page = await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(503);
    expect(page.headers['content-type']).toContain('text/html');
  });

  it('refuses to start when it opens the database itself', async () => {
    await expect(buildApp({ config, logger: false })).rejects.toThrow(/PostgreSQL at .* is unreachable/);
  });
});
