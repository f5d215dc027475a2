import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDatabaseUrl } from '../src/config.js';

describe('config', () => {
  it('runs with no configuration on SQLite at ./data/inkstone.db, port 3000', () => {
    const config = loadConfig({});
    expect(config.database).toEqual({ kind: 'sqlite', file: resolve('data/inkstone.db') });
    expect(config.port).toBe(3000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.publicUrl).toBe('http://127.0.0.1:3000');
    expect(config.cookieSecure).toBe(false);
  });

  it('picks the database from DATABASE_URL', () => {
    expect(parseDatabaseUrl('sqlite:/tmp/x.db')).toEqual({ kind: 'sqlite', file: '/tmp/x.db' });
    expect(parseDatabaseUrl('postgres://u@h:5432/db')).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h:5432/db',
    });
    expect(parseDatabaseUrl('postgresql://u@h/db?schema=blog')).toMatchObject({
      kind: 'postgres',
      schema: 'blog',
    });
    expect(() => parseDatabaseUrl('mysql://x')).toThrow(/DATABASE_URL must start with/);
  });

  it('refuses to start in production without SESSION_SECRET, naming the variable', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/SESSION_SECRET is required in production/);
    const ok = loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(40) });
    expect(ok.cookieSecure).toBe(true);
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', PUBLIC_URL: 'ftp://x', SESSION_SECRET: 'short' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems.join('\n');
      for (const name of ['PORT', 'LOG_LEVEL', 'PUBLIC_URL', 'SESSION_SECRET'])
        expect(problems).toContain(name);
    }
  });
});

describe('config schema', () => {
  it('gives every new setting its default, and leaves database limits to createDb', () => {
    const config = loadConfig({});
    expect(config.http).toEqual({
      requestTimeoutMs: 60_000,
      headersTimeoutMs: 20_000,
      keepAliveTimeoutMs: 5000,
    });
    expect(config.shutdownTimeoutMs).toBe(10_000);
    expect(config.database.limits).toBeUndefined();
    expect(config.logLevel).toBe('info');
    expect(loadConfig({ NODE_ENV: 'test' }).logLevel).toBe('silent');
  });

  it('runs as many jobs in the web process as in a worker unless told, and 0 there means none', () => {
    expect(loadConfig({}).jobs).toEqual({
      workerConcurrency: 4,
      webWorkerConcurrency: 4,
      lockMs: 30_000,
      maxRestarts: 1,
    });
    expect(loadConfig({ AI_WORKER_CONCURRENCY: '8' }).jobs.webWorkerConcurrency).toBe(8);
    expect(loadConfig({ AI_WEB_WORKER_CONCURRENCY: '0' }).jobs.webWorkerConcurrency).toBe(0);
    expect(() => loadConfig({ AI_WORKER_CONCURRENCY: '0' })).toThrow(
      'AI_WORKER_CONCURRENCY must be a whole number between 1 and 1024 (got "0")',
    );
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ PORT: '', TRUST_PROXY: '', LOG_LEVEL: '', DATABASE_URL: '', PUBLIC_URL: '' });
    expect(config.port).toBe(3000);
    expect(config.trustProxy).toBe(false);
    expect(config.publicUrl).toBe('http://127.0.0.1:3000');
  });

  it('reads numbers and booleans strictly, naming the variable, its bounds and the value', () => {
    expect(loadConfig({ PORT: ' 8080 ', TRUST_PROXY: 'Yes', COOKIE_SECURE: 'off' })).toMatchObject({
      port: 8080,
      trustProxy: true,
      cookieSecure: false,
    });
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
      }
      return [];
    };
    expect(problems({ BODY_LIMIT: '1.5' })).toEqual([
      'BODY_LIMIT must be a whole number between 1024 and 1073741824 (got "1.5")',
    ]);
    expect(problems({ PORT: '70000' })).toEqual([
      'PORT must be a whole number between 0 and 65535 (got "70000")',
    ]);
    expect(problems({ TRUST_PROXY: 'maybe' })).toEqual(['TRUST_PROXY must be true or false (got "maybe")']);
    expect(problems({ NODE_ENV: 'staging' })).toEqual([
      'NODE_ENV must be development, production or test (got "staging")',
    ]);
    expect(problems({ HTTP_HEADERS_TIMEOUT_MS: '90000' })).toEqual([
      'HTTP_HEADERS_TIMEOUT_MS (90000) must not be longer than HTTP_REQUEST_TIMEOUT_MS (60000)',
    ]);
  });

  it('never repeats a secret in an error message', () => {
    const secret = 'hunter2-but-longer';
    expect(() => loadConfig({ SESSION_SECRET: secret })).toThrow(
      'SESSION_SECRET must be at least 32 characters long',
    );
    expect(() => loadConfig({ SESSION_SECRET: secret })).not.toThrow(new RegExp(secret));
  });

  it('passes on the database limits that were set, for createDb to apply over its defaults', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u@h/db',
      DATABASE_POOL_MAX: '25',
      DATABASE_STATEMENT_TIMEOUT_MS: '0',
    });
    expect(config.database).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h/db',
      limits: { poolMax: 25, statementTimeoutMs: 0 },
    });
    expect(loadConfig({ SQLITE_BUSY_TIMEOUT_MS: '250' }).database.limits).toEqual({ busyTimeoutMs: 250 });
  });
});
