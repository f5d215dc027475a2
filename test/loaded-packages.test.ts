import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The npm packages an Inkstone started with `env` has loaded. */
function loadedPackages(env: Record<string, string>): string[] {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/fixtures/loaded-packages.ts'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', REDIS_URL: '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as string[];
}

describe('packages loaded at start', () => {
  // Each full collection marks what a process holds: on SQLite without Redis, loading these
  // anyway held ~5.5 MB more heap (src/lazy-require.ts).
  it('on SQLite without Redis: neither pg, nor ioredis, nor BullMQ', () => {
    const loaded = loadedPackages({ DATABASE_URL: 'sqlite::memory:' });
    // The fixture sees what is loaded: better-sqlite3 and Fastify are.
    expect(loaded).toEqual(expect.arrayContaining(['better-sqlite3', 'fastify']));
    expect(loaded.filter((name) => ['pg', 'ioredis', 'bullmq'].includes(name))).toEqual([]);
  });
});
