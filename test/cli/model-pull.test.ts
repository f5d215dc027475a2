import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { formatBytes, pullModel } from '../../src/cli/model-pull.js';
import { tinyGguf } from '../fakes/tiny-gguf.js';

// A local HTTP server plays the model host: the tiny GGUF whole, in pieces without a length,
// cut short, as an HTML error page, and as a 404.

const model = tinyGguf();
const size = formatBytes(model.length).replace('.', '\\.'); // "538.6 kB", for a RegExp
let server: Server;
let base: string;
let dir: string;

/** Collects what the progress bar writes; `isTTY` chooses redraws or one line per 10 %. */
function sink(isTTY = false) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    { isTTY },
  );
  return { stream, text: () => chunks.join('') };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/models/tiny.gguf') {
      res.writeHead(200, { 'content-length': model.length, 'content-type': 'application/octet-stream' });
      res.end(model);
    } else if (path === '/chunked/tiny.gguf') {
      // No content-length: the bar shows bytes and speed, without a percentage.
      res.writeHead(200);
      for (let at = 0; at < model.length; at += 64 * 1024) res.write(model.subarray(at, at + 64 * 1024));
      res.end();
    } else if (path === '/redirect') {
      res.writeHead(302, { location: '/models/tiny.gguf' });
      res.end();
    } else if (path === '/cut/tiny.gguf') {
      res.writeHead(200, { 'content-length': model.length });
      res.write(model.subarray(0, 100_000));
      setTimeout(() => res.destroy(), 10);
    } else if (path === '/login/tiny.gguf') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><title>Sign in</title>');
    } else {
      res.writeHead(404, 'Not Found');
      res.end();
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((done) => server?.close(done));
});

beforeEach(async () => {
  dir = await mkdtemp(join(inject('testDataFolder'), 'models-'));
});

describe('inkstone model pull', () => {
  it('downloads into the folder under the URL’s name, with a progress bar of bytes, % and speed', async () => {
    const progress = sink();
    const result = await pullModel(`${base}/models/tiny.gguf`, { to: dir, progress: progress.stream });
    expect(result.path).toBe(join(dir, 'tiny.gguf'));
    expect(result.bytes).toBe(model.length);
    expect((await readFile(result.path)).equals(model)).toBe(true);
    expect(await readdir(dir)).toEqual(['tiny.gguf']);
    const lines = progress.text().trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(
      new RegExp(`^\\[#{30}\\] 100\\.0% {2}${size} / ${size} {2}[\\d.]+ [kMG]?B/s$`),
    );
  });

  it('redraws one line in place on a terminal', async () => {
    const progress = sink(true);
    await pullModel(`${base}/models/tiny.gguf`, { to: dir, progress: progress.stream });
    const text = progress.text();
    expect(text.startsWith('\r[')).toBe(true);
    expect(text).toMatch(
      new RegExp(`\\r\\[#{30}\\] 100\\.0% {2}${size} / ${size} {2}[\\d.]+ [kMG]?B/s\\x1b\\[K\\n$`),
    );
    expect(text.match(/\n/g)).toHaveLength(1);
  });

  it('follows a redirect and writes to a path given with --to', async () => {
    const path = join(dir, 'nested', 'counter.gguf');
    const result = await pullModel(`${base}/redirect`, { to: path, progress: sink().stream });
    expect(result.path).toBe(path);
    expect((await readFile(path)).equals(model)).toBe(true);
  });

  it('shows bytes and speed when the server sends no length', async () => {
    const progress = sink(true);
    await pullModel(`${base}/chunked/tiny.gguf`, { to: dir, progress: progress.stream });
    expect(progress.text()).toMatch(new RegExp(`\\r${size} {2}[\\d.]+ [kMG]?B/s\\x1b\\[K\\n$`));
  });

  it.each([
    ['a 404', '/models/missing.gguf', /answered 404 Not Found$/],
    ['a page that is not a GGUF', '/login/tiny.gguf', /is not a GGUF file \(it starts with "<!DO"\)$/],
    ['a download cut short', '/cut/tiny.gguf', /terminated|aborted|stopped at/],
  ])('fails on %s and leaves no file behind', async (_name, path, message) => {
    await expect(pullModel(`${base}${path}`, { to: dir, progress: sink().stream })).rejects.toThrow(message);
    expect(await readdir(dir)).toEqual([]);
  });

  it('says when the host cannot be reached, and refuses what is not an http URL', async () => {
    // A port that was just free: fetch itself refuses to dial some low ports ("bad port").
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const { port } = closed.address() as AddressInfo;
    await new Promise((done) => closed.close(done));
    await expect(
      pullModel(`http://127.0.0.1:${port}/x.gguf`, { to: dir, progress: sink().stream }),
    ).rejects.toThrow(new RegExp(`^Cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    await expect(pullModel('file:///etc/passwd', { to: dir })).rejects.toThrow(/only http and https/i);
    await expect(pullModel('not a url', { to: dir })).rejects.toThrow('Not a URL: not a url');
  });

  it('runs as `inkstone model pull <url> --to DIR`', async () => {
    const cli = resolve(import.meta.dirname, '../../src/cli/index.ts');
    const tsx = resolve(import.meta.dirname, '../../node_modules/.bin/tsx');
    const { stdout, stderr } = await promisify(execFile)(
      tsx,
      [cli, 'model', 'pull', `${base}/models/tiny.gguf`, '--to', dir],
      { env: { ...process.env, NODE_ENV: 'test' } },
    );
    expect(stdout).toMatch(
      new RegExp(`^Saved .*tiny\\.gguf \\(${size} in [\\d.]+ s\\)\\. Use it with AI_MODEL_PATH=`),
    );
    expect(stderr).toContain('100.0%');
    expect((await readFile(join(dir, 'tiny.gguf'))).equals(model)).toBe(true);
  });
});
