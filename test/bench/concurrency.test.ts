import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { command } from '../../src/bench/concurrency.js';
import { parseResults } from '../../src/bench/read-results.js';
import type { ConcurrencySection, LoadSection } from '../../src/bench/results.js';
import { createTestApp, createUser, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/redis.js';

// `inkstone bench concurrency` against a real Inkstone on a port, and against a server whose
// one path always answers 500 and a port nothing listens on (both must stop a level early).
// Then Ctrl-C: a real SIGINT to the CLI in a child process, which must still write its file.
let t: TestApp;
let url: string;
let broken: Server;
let brokenUrl: string;
let dir: string;

beforeAll(async () => {
  t = await createTestApp('sqlite');
  const author = await createUser(t.app, 'author');
  await t.app.services.posts.create({ title: 'Ladder', body: 'Read me.', status: 'published' }, {
    id: author.id,
    role: 'author',
  } as never);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
  // Half its answers fail: / is fine, /fail is always 500.
  broken = createServer((request, response) => {
    response.statusCode = request.url === '/fail' ? 500 : 200;
    response.end('x');
  });
  await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
  brokenUrl = `http://127.0.0.1:${(broken.address() as { port: number }).port}`;
  dir = await mkdtemp(join(tmpdir(), 'bench-concurrency-'));
  vi.spyOn(console, 'log').mockImplementation(() => {});
});

afterAll(async () => {
  vi.restoreAllMocks();
  await t?.close();
  await new Promise((resolve) => broken?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const read = async (out: string) =>
  parseResults(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')));

describe('inkstone bench concurrency', () => {
  it('measures every endpoint at every level, with consistent numbers', { timeout: 60_000 }, async () => {
    const out = join(dir, 'ladder');
    const code = await command.run([
      '--url',
      url,
      '--levels',
      '4,1',
      '--duration-per-level',
      '700ms',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    const section = (await read(out)).sections[0] as ConcurrencySection;
    expect(section.settings).toEqual({ levels: [1, 4], durationPerLevelS: 0.7, errorThreshold: 0.05 });
    expect(section.levels.map((l) => l.level)).toEqual([1, 4]);
    for (const level of section.levels) {
      expect(level.stoppedEarly).toBe(false);
      expect(level.endpoints.map((e) => e.endpoint)).toEqual(['home', 'post', 'api-posts', 'search']);
      // Four endpoints of 0.7 s each.
      expect(level.elapsedS).toBeCloseTo(2.8, 1);
      for (const e of level.endpoints) {
        expect(e.errors, `${level.level} ${e.endpoint}`).toEqual({});
        expect(e.requests).toBe(e.ok);
        expect(e.ok).toBeGreaterThan(5);
        expect(e.latency.n).toBe(e.ok);
        // ok per second of the step as measured, which is the 0.7 s asked for within a few ms.
        expect(Math.abs(e.throughput / (e.ok / 0.7) - 1)).toBeLessThan(0.05);
        expect(e.latency.min).toBeLessThanOrEqual(e.latency.p50);
        expect(e.latency.p95).toBeLessThanOrEqual(e.latency.p99);
        expect(e.latency.p99).toBeLessThanOrEqual(e.latency.max);
      }
    }
  });

  it(
    'stops a level early past the error threshold, marks it and does not climb further',
    { timeout: 30_000 },
    async () => {
      const out = join(dir, 'errors');
      const code = await command.run([
        '--url',
        brokenUrl,
        '--paths',
        '/,/fail',
        '--levels',
        '2,8',
        '--duration-per-level',
        '2s',
        '--out',
        out,
      ]);
      expect(code).toBe(0);
      const section = (await read(out)).sections[0] as ConcurrencySection;
      const [first, second] = section.levels;
      expect(first!.stoppedEarly).toBe(true);
      const fail = first!.endpoints.find((e) => e.endpoint === '/fail')!;
      expect(fail.errors['5xx']).toBe(fail.requests);
      expect(fail.errorRate).toBe(1);
      expect(fail.ok).toBe(0);
      // It stopped long before its 2 s were up; the healthy path ran its time.
      expect(first!.elapsedS).toBeLessThan(3);
      expect(first!.endpoints.find((e) => e.endpoint === '/')!.errorRate).toBe(0);
      // Level 8: only the healthy path.
      expect(second!.stoppedEarly).toBe(false);
      expect(second!.endpoints.map((e) => e.endpoint)).toEqual(['/']);
      expect(section.notes!.join(' ')).toMatch(/\/fail stopped early at level 2/);
    },
  );

  it('counts a closed port as connect errors and stops at once', { timeout: 30_000 }, async () => {
    const out = join(dir, 'closed');
    const port = await freePort();
    const code = await command.run([
      '--url',
      `http://127.0.0.1:${port}`,
      '--paths',
      '/',
      '--levels',
      '1,2',
      '--duration-per-level',
      '5s',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    const section = (await read(out)).sections[0] as ConcurrencySection;
    expect(section.levels).toHaveLength(1);
    const level = section.levels[0]!;
    expect(level.stoppedEarly).toBe(true);
    expect(level.elapsedS).toBeLessThan(2);
    expect(level.endpoints[0]!.errors).toEqual({ connect: level.endpoints[0]!.requests });
  });

  it('refuses bad flags naming the flag', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await command.run(['--url', url, '--levels', '1,x'])).toBe(2);
    expect(await command.run(['--url', url, '--error-threshold', '5'])).toBe(2);
    expect(await command.run(['--url', url, '--endpoints', 'homepage'])).toBe(2);
    expect(await command.run(['--levels', '1'])).toBe(2);
    const said = err.mock.calls.flat().join('\n');
    expect(said).toMatch(/--levels: "x" must be a whole number/);
    expect(said).toMatch(/--error-threshold: "5" must be a number from 0 to 1/);
    expect(said).toMatch(/--endpoints: "homepage" is not one of/);
    expect(said).toMatch(/--url is required/);
    err.mockRestore();
  });
});

describe('Ctrl-C', () => {
  it(
    'stops a load run and still writes what it measured, marked interrupted',
    { timeout: 60_000 },
    async () => {
      const out = join(dir, 'sigint');
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/index.ts',
          'bench',
          'load',
          '--url',
          url,
          '--users',
          '2',
          '--duration',
          '60s',
          '--think',
          '0',
          '--out',
          out,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } },
      );
      let stderr = '';
      const started = performance.now();
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        // The progress line (a line a second when not a terminal) says requests are being made.
        await new Promise<void>((resolve, reject) => {
          child.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk.toString();
            if (/[1-9]\d* requests/.test(stderr)) resolve();
          });
          child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
        });
        child.kill('SIGINT');
        expect(await exited).toBe(130);
      } finally {
        child.kill('SIGKILL');
      }
      expect(performance.now() - started).toBeLessThan(30_000);
      expect(stderr).toMatch(/Interrupted/);
      const section = (await read(out)).sections[0] as LoadSection;
      expect(section.interrupted).toBe(true);
      expect(section.elapsedS).toBeLessThan(60);
      const requests = section.endpoints.reduce((a, e) => a + e.requests, 0);
      expect(requests).toBeGreaterThan(0);
      expect(section.timeline.reduce((a, p) => a + p.requests, 0)).toBe(requests);
    },
  );
});
