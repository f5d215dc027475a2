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
