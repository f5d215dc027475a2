import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { appLogger, prettyLogs, prettyStream } from '../../src/http/logging.js';
import { createTestDatabase } from '../helpers/db.js';

// Development logs through pino-pretty: readable, still redacted, and JSON with one warning
// when pino-pretty (a devDependency) is not installed.

// eslint-disable-next-line no-control-regex -- colours, if a terminal asked for them
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => plain(text) };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('pretty logs in development', () => {
  it('are on in development when LOG_PRETTY says so or stdout is a terminal, never elsewhere', () => {
    expect(prettyLogs('development', undefined, true)).toBe(true);
    expect(prettyLogs('development', undefined, false)).toBe(false);
    expect(prettyLogs('development', undefined, undefined)).toBe(false);
    expect(prettyLogs('development', true, false)).toBe(true);
    expect(prettyLogs('development', false, true)).toBe(false);
    expect(prettyLogs('production', true, true)).toBe(false);
    expect(prettyLogs('test', undefined, true)).toBe(false);
    expect(loadConfig({ NODE_ENV: 'development', LOG_PRETTY: 'true' }).logPretty).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development' }).logPretty).toBeUndefined();
  });

  it('writes readable lines, with secrets still redacted', async () => {
    const out = capture();
    const { stream, ...options } = appLogger({ level: 'info', pretty: true, stream: out.stream });
    const log = pino(options, stream);
    log.info({ password: 'hunter2', user: 'ada' }, 'signed in');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const text = out.text();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: signed in/);
    expect(text).toContain('user: "ada"');
    expect(text).toContain('password: "[redacted]"');
    expect(text).not.toContain('hunter2');
    expect(() => JSON.parse(text)).toThrow();
  });

  it('carries the request id on the request lines of the app', async () => {
    const database = await createTestDatabase('sqlite');
    const config = loadConfig({ NODE_ENV: 'development', SESSION_SECRET: 'x'.repeat(32) });
    config.database = database.config;
    const out = capture();
    const app = await buildApp({
      config,
      database: database.handle,
      logger: { level: 'info', pretty: true, stream: out.stream },
    });
    try {
      const response = await app.inject({
        url: '/api/v1/settings',
        headers: { 'x-request-id': 'pretty-req-1' },
      });
      expect(response.statusCode).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const text = out.text();
      // "incoming request" and "request completed", each followed by its request id.
      expect(
        text.match(/INFO: (incoming request|request completed)\n {4}reqId: "pretty-req-1"/g),
      ).toHaveLength(2);
    } finally {
      await app.close();
      await database.destroy();
    }
  });

  it('falls back to JSON with one warning when pino-pretty is not installed', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const missing = () => {
      throw Object.assign(new Error("Cannot find module 'pino-pretty'\nRequire stack: …"), {
        code: 'MODULE_NOT_FOUND',
      });
    };
    expect(prettyStream(undefined, missing)).toBeUndefined();
    expect(prettyStream(undefined, missing)).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain(
      "pino-pretty (a devDependency), which could not be loaded (Cannot find module 'pino-pretty')",
    );
  });
});
